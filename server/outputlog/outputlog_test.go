package outputlog

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newLog(t testing.TB, limit int64) *Log {
	t.Helper()
	l, err := Create(filepath.Join(t.TempDir(), "stdout"), limit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Complete() })
	return l
}

// readAll reads r to its end.
func readAll(ctx context.Context, r *Reader) ([]byte, error) {
	var out bytes.Buffer
	buf := make([]byte, 7) // small, to cross write boundaries
	for {
		n, err := r.Read(ctx, buf)
		out.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			return out.Bytes(), nil
		}
		if err != nil {
			return out.Bytes(), err
		}
	}
}

func TestReadersFollowLiveOutputFromTheFirstByte(t *testing.T) {
	l := newLog(t, 0)
	const readers = 8
	results := make([][]byte, readers)
	var wg sync.WaitGroup
	for i := range readers {
		r, err := l.NewReader(0)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			got, err := readAll(context.Background(), r)
			if err != nil {
				t.Error(err)
			}
			results[i] = got
		}()
	}
	var want bytes.Buffer
	for i := range 200 {
		chunk := bytes.Repeat([]byte{byte('a' + i%26)}, i%37+1)
		want.Write(chunk)
		if _, err := l.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Complete(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, got := range results {
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("reader %d got %d bytes, want %d", i, len(got), want.Len())
		}
	}
}

func TestLateReaderGetsEverythingThenEOF(t *testing.T) {
	l := newLog(t, 0)
	_, _ = l.Write([]byte("hello "))
	_, _ = l.Write([]byte("world"))
	if err := l.Complete(); err != nil {
		t.Fatal(err)
	}
	r, err := l.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := readAll(context.Background(), r)
	if err != nil || string(got) != "hello world" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestResumeFromOffset(t *testing.T) {
	l := newLog(t, 0)
	_, _ = l.Write([]byte("0123456789"))
	_ = l.Complete()
	for _, tt := range []struct {
		offset int64
		want   string
	}{{0, "0123456789"}, {4, "456789"}, {10, ""}} {
		r, err := l.NewReader(tt.offset)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(context.Background(), r)
		r.Close()
		if err != nil || string(got) != tt.want {
			t.Errorf("offset %d: got %q, %v", tt.offset, got, err)
		}
	}
	if _, err := l.NewReader(11); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Errorf("offset past the end: %v", err)
	}
	if _, err := l.NewReader(-1); err == nil {
		t.Error("negative offset accepted")
	}
}

func TestReaderAheadOfALiveLogWaitsForTheBytes(t *testing.T) {
	l := newLog(t, 0)
	r, err := l.NewReader(3)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan string)
	go func() {
		got, _ := readAll(context.Background(), r)
		done <- string(got)
	}()
	_, _ = l.Write([]byte("ab"))
	_, _ = l.Write([]byte("cdef"))
	_ = l.Complete()
	if got := <-done; got != "def" {
		t.Fatalf("got %q, want def", got)
	}
}

func TestLimitDropsTheRestAndSaysSo(t *testing.T) {
	l := newLog(t, 10)
	for range 5 {
		if n, err := l.Write([]byte("abcd")); n != 4 || err != nil {
			t.Fatalf("Write = %d, %v: the job must never see a short write", n, err)
		}
	}
	_ = l.Complete()
	if !l.Truncated() || l.Size() != 10 {
		t.Fatalf("truncated %v size %d", l.Truncated(), l.Size())
	}
	r, _ := l.NewReader(0)
	defer r.Close()
	got, _ := readAll(context.Background(), r)
	if string(got) != "abcdabcdab" {
		t.Fatalf("got %q", got)
	}
}

func TestCancelledReaderReturnsAtOnce(t *testing.T) {
	l := newLog(t, 0)
	r, _ := l.NewReader(0)
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() {
		_, err := r.Read(ctx, make([]byte, 10))
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return after cancel")
	}
}

func TestReadFromCopiesWithoutCompleting(t *testing.T) {
	l := newLog(t, 0)
	data := bytes.Repeat([]byte("x"), 3*copyBufferSize+5)
	n, err := l.ReadFrom(bytes.NewReader(data))
	if err != nil || n != int64(len(data)) || l.IsComplete() || l.Size() != int64(len(data)) {
		t.Fatalf("ReadFrom = %d, %v; complete %v size %d", n, err, l.IsComplete(), l.Size())
	}
}

func TestOpenCompleteServesAnEarlierRunsFile(t *testing.T) {
	dir := t.TempDir()
	l, _ := Create(filepath.Join(dir, "out"), 0)
	_, _ = l.Write([]byte("before the crash"))
	// No Complete: the server died.
	l2, err := OpenComplete(filepath.Join(dir, "out"), false)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := l2.NewReader(0)
	defer r.Close()
	got, err := readAll(context.Background(), r)
	if err != nil || string(got) != "before the crash" {
		t.Fatalf("got %q, %v", got, err)
	}
	_ = l.Complete()
	missing, err := OpenComplete(filepath.Join(dir, "never-written"), false)
	if err != nil || missing.Size() != 0 {
		t.Fatalf("missing file: %v size %d", err, missing.Size())
	}
}

func TestCreateTakesAnEmptyFileButNeverOneWithData(t *testing.T) {
	dir := t.TempDir()
	ahead := filepath.Join(dir, "made-ahead")
	if err := os.WriteFile(ahead, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Create(ahead, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = l.Write([]byte("data"))
	_ = l.Complete()
	if _, err := Create(ahead, 0); err == nil || !strings.Contains(err.Error(), "already holds 4 bytes") {
		t.Fatalf("second Create on a written log: %v", err)
	}
}
