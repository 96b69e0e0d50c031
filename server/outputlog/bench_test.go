package outputlog

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// BenchmarkWrite measures appending 64 KiB chunks (the pipe copy size).
func BenchmarkWrite(b *testing.B) {
	l := newLog(b, 0)
	chunk := make([]byte, copyBufferSize)
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFanOut measures live fan-out: one writer, N readers following
// from byte 0 with 256 KiB reads, until every reader has everything.
// Bytes/s counts the bytes written once.
func BenchmarkFanOut(b *testing.B) {
	for _, readers := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			chunk := make([]byte, copyBufferSize)
			const chunks = 64 // 4 MiB per iteration
			b.SetBytes(chunks * copyBufferSize)
			for i := 0; i < b.N; i++ {
				l := newLog(b, 0)
				var wg sync.WaitGroup
				for range readers {
					r, err := l.NewReader(0)
					if err != nil {
						b.Fatal(err)
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						defer r.Close()
						buf := make([]byte, 256<<10)
						for {
							if _, err := r.Read(context.Background(), buf); err != nil {
								return
							}
						}
					}()
				}
				for range chunks {
					_, _ = l.Write(chunk)
				}
				_ = l.Complete()
				wg.Wait()
			}
		})
	}
}

// BenchmarkIdleReaderMemory reports the memory allocated for one reader that is
// waiting for output (a file descriptor and a small struct; the goroutine
// that waits belongs to the caller).
func BenchmarkIdleReaderMemory(b *testing.B) {
	l := newLog(b, 0)
	const n = 1000
	readers := make([]*Reader, 0, n)
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range n {
			r, err := l.NewReader(0)
			if err != nil {
				b.Fatal(err)
			}
			readers = append(readers, r)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "bytes/reader")
		for _, r := range readers {
			r.Close()
		}
		readers = readers[:0]
	}
}
