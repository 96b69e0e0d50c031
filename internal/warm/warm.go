// Package warm keeps a few things made ahead of time for work whose set-up
// does not depend on its request: a job helper already in its own
// namespaces, a job directory with its empty files. Taking one is then a
// channel receive instead of the set-up.
package warm

import (
	"sync"
	"sync/atomic"
	"time"
)

// Quiet is how long a pool waits after the last Take before it makes
// replacements. Making them right away competes with the work that just
// took one, for the CPUs and the disk: on a two-CPU machine a job helper
// started at once slowed the /bin/true job just launched from 3.8 to
// 5.6 ms. A burst of takes meanwhile finds the pool empty and does the
// set-up itself, as without a pool.
const Quiet = 10 * time.Millisecond

// Pool keeps up to a fixed number of T ready.
type Pool[T any] struct {
	quietFor time.Duration
	newValue func() (T, error)
	discard  func(T)
	ready    chan T
	// lastTake is when Take was last called (UnixNano).
	lastTake atomic.Int64
	wanted   chan struct{}
	closed   chan struct{}
	filler   sync.WaitGroup
	close    sync.Once
}

// New returns a pool that keeps size values made by newValue ready;
// discard disposes of those Close finds unused. With size 0 the pool is
// always empty.
func New[T any](size int, newValue func() (T, error), discard func(T)) *Pool[T] {
	return newPool(size, Quiet, newValue, discard)
}

func newPool[T any](size int, quiet time.Duration, newValue func() (T, error), discard func(T)) *Pool[T] {
	p := &Pool[T]{
		quietFor: quiet,
		newValue: newValue,
		discard:  discard,
		ready:    make(chan T, max(size, 0)),
		wanted:   make(chan struct{}, 1),
		closed:   make(chan struct{}),
	}
	if size > 0 {
		p.filler.Add(1)
		go p.keepFilled()
		p.want()
	}
	return p
}

// Take returns a ready value, or false when none is ready (or the pool is
// closed). Either way the pool makes replacements once it is quiet.
func (p *Pool[T]) Take() (T, bool) {
	p.lastTake.Store(time.Now().UnixNano())
	p.want()
	select {
	case v := <-p.ready:
		return v, true
	default:
		var zero T
		return zero, false
	}
}

// Close stops the refilling and discards the values still ready.
func (p *Pool[T]) Close() {
	p.close.Do(func() {
		close(p.closed)
		p.filler.Wait()
		for {
			select {
			case v := <-p.ready:
				p.discard(v)
			default:
				return
			}
		}
	})
}

// want asks the filler to top the pool up.
func (p *Pool[T]) want() {
	select {
	case p.wanted <- struct{}{}:
	default:
	}
}

// keepFilled makes values whenever the pool is below its size and quiet.
func (p *Pool[T]) keepFilled() {
	defer p.filler.Done()
	for {
		select {
		case <-p.closed:
			return
		case <-p.wanted:
		}
		if !p.quiet() {
			return
		}
		for len(p.ready) < cap(p.ready) {
			v, err := p.newValue()
			if err != nil {
				// Whatever failed (a helper binary removed, a full disk)
				// fails again for the caller that does the set-up itself,
				// which reports it; the next Take tries again.
				break
			}
			select {
			case p.ready <- v:
			case <-p.closed:
				p.discard(v)
				return
			}
		}
	}
}

// quiet waits until Take was not called for the pool's quiet time. It returns false when
// the pool is closed meanwhile.
func (p *Pool[T]) quiet() bool {
	for {
		wait := time.Until(time.Unix(0, p.lastTake.Load()).Add(p.quietFor))
		if wait <= 0 {
			return true
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.closed:
			t.Stop()
			return false
		}
	}
}
