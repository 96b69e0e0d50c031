package outputlog

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// FuzzConcurrentReaders writes data in chunks of fuzzed sizes while readers
// with fuzzed buffer sizes and start times follow the log, and checks that
// every reader gets exactly the bytes kept: every interleaving of write,
// complete and read must deliver them.
func FuzzConcurrentReaders(f *testing.F) {
	f.Add([]byte("hello, world"), []byte{1, 2, 3}, []byte{1, 5, 64}, uint16(0))
	f.Add(bytes.Repeat([]byte{0xff}, 5000), []byte{200, 0, 7}, []byte{3}, uint16(100))
	f.Add([]byte{}, []byte{}, []byte{1, 1}, uint16(1))
	f.Fuzz(func(t *testing.T, data, chunks, readerBufs []byte, limit uint16) {
		if len(readerBufs) == 0 || len(readerBufs) > 16 {
			return
		}
		l, err := Create(filepath.Join(t.TempDir(), "log"), int64(limit))
		if err != nil {
			t.Fatal(err)
		}
		want := data
		if limit > 0 && len(want) > int(limit) {
			want = want[:limit]
		}
		results := make([][]byte, len(readerBufs))
		var wg sync.WaitGroup
		start := func(i int) {
			r, err := l.NewReader(0)
			if err != nil {
				t.Error(err)
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer r.Close()
				buf := make([]byte, int(readerBufs[i])+1)
				var got []byte
				for {
					n, err := r.Read(context.Background(), buf)
					got = append(got, buf[:n]...)
					if err != nil {
						break
					}
				}
				results[i] = got
			}()
		}
		// Even readers start before any write, odd ones after the first.
		startOdd := func() {
			for j := 1; j < len(readerBufs); j += 2 {
				start(j)
			}
		}
		for i := 0; i < len(readerBufs); i += 2 {
			start(i)
		}
		rest, oddStarted := data, false
		for i := 0; len(rest) > 0; i++ {
			size := 1
			if len(chunks) > 0 {
				size = int(chunks[i%len(chunks)]) + 1
			}
			size = min(size, len(rest))
			if _, err := l.Write(rest[:size]); err != nil {
				t.Fatal(err)
			}
			rest = rest[size:]
			if !oddStarted {
				startOdd()
				oddStarted = true
			}
		}
		if !oddStarted {
			startOdd()
		}
		if err := l.Complete(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("a reader never finished: lost wake-up")
		}
		for i, got := range results {
			if !bytes.Equal(got, want) {
				t.Fatalf("reader %d got %d bytes, want %d", i, len(got), len(want))
			}
		}
	})
}
