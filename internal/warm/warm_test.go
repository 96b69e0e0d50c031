package warm

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// eventually polls cond for up to five seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

func TestPoolFillsTakesAndRefillsWhenQuiet(t *testing.T) {
	var made atomic.Int64
	const quiet = 200 * time.Millisecond
	p := newPool(2, quiet, func() (int64, error) { return made.Add(1), nil }, func(int64) {})
	defer p.Close()
	eventually(t, "two ready", func() bool { return len(p.ready) == 2 })
	a, okA := p.Take()
	b, okB := p.Take()
	if !okA || !okB || a == b {
		t.Fatalf("took %d %v, %d %v", a, okA, b, okB)
	}
	if _, ok := p.Take(); ok {
		t.Fatal("took a third from a pool of two")
	}
	// Nothing is made while takes keep coming.
	for range 5 {
		time.Sleep(quiet / 4)
		p.Take()
	}
	if n := made.Load(); n != 2 {
		t.Fatalf("%d made while takes kept coming", n)
	}
	eventually(t, "refilled", func() bool { return len(p.ready) == 2 })
}

func TestPoolWithSizeZeroIsEmpty(t *testing.T) {
	p := New(0, func() (int, error) { t.Error("made a value"); return 0, nil }, func(int) {})
	defer p.Close()
	if _, ok := p.Take(); ok {
		t.Fatal("took from an empty pool")
	}
	time.Sleep(2 * Quiet)
}

func TestPoolRetriesAfterAFailureOnTheNextTake(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	var tries atomic.Int64
	p := New(1, func() (int, error) {
		tries.Add(1)
		if failing.Load() {
			return 0, errors.New("broken")
		}
		return 1, nil
	}, func(int) {})
	defer p.Close()
	eventually(t, "a first try", func() bool { return tries.Load() >= 1 })
	time.Sleep(3 * Quiet)
	if n := tries.Load(); n != 1 {
		t.Fatalf("%d tries without a Take; want the pool to wait for one", n)
	}
	failing.Store(false)
	if _, ok := p.Take(); ok {
		t.Fatal("took from a pool that could make nothing")
	}
	eventually(t, "made after the take", func() bool { return len(p.ready) == 1 })
}

func TestCloseDiscardsWhatIsReadyAndStopsMaking(t *testing.T) {
	var mu sync.Mutex
	var discarded []int
	var made atomic.Int64
	p := New(3, func() (int, error) { return int(made.Add(1)), nil }, func(v int) {
		mu.Lock()
		discarded = append(discarded, v)
		mu.Unlock()
	})
	eventually(t, "three ready", func() bool { return len(p.ready) == 3 })
	p.Close()
	p.Close() // twice is fine
	if len(discarded) != 3 {
		t.Fatalf("discarded %v", discarded)
	}
	n := made.Load()
	if _, ok := p.Take(); ok {
		t.Fatal("took from a closed pool")
	}
	time.Sleep(3 * Quiet)
	if made.Load() != n {
		t.Fatal("made values after Close")
	}
}
