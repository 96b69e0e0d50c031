package jobexec

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Pool keeps a few helpers started ahead of time, each already in its own
// new namespaces with /proc mounted and loopback up, waiting for a job. A
// job launched from the pool skips the helper's start (the fork into new
// namespaces and the Go runtime's start-up, about 2.5 ms of the 7 ms a
// cold start-to-exit took on the reference machine); the pool then starts
// a replacement in the background.
//
// An idle helper is not in any job's cgroups and has no job's descriptors:
// it becomes a job's only when Launch hands it the job, and nothing of the
// program runs before it is inside the job's cgroups, as with a cold
// start. Idle helpers die with the server like any helper (Pdeathsig and
// the end of file on their control socket).
type Pool struct {
	helper string
	// lastTake is when Launch last took an idle helper (UnixNano).
	lastTake atomic.Int64
	idle     chan *Process
	wanted   chan struct{}
	closed   chan struct{}
	filler   sync.WaitGroup
	close    sync.Once
}

// NewPool returns a pool that keeps size helpers (the binary at path
// helper) waiting. With size 0 every Launch starts its helper then.
func NewPool(helper string, size int) *Pool {
	p := &Pool{
		helper: helper,
		idle:   make(chan *Process, max(size, 0)),
		wanted: make(chan struct{}, 1),
		closed: make(chan struct{}),
	}
	if size > 0 {
		p.filler.Add(1)
		go p.keepFilled()
		p.want()
	}
	return p
}

// Launch is the package's Launch, with an idle helper when one is waiting
// and a newly started one otherwise.
func (p *Pool) Launch(ctx context.Context, cfg Config) (*Process, error) {
	select {
	case proc := <-p.idle:
		p.lastTake.Store(time.Now().UnixNano())
		p.want()
		err := proc.assign(ctx, cfg)
		if err == nil {
			return proc, nil
		}
		if !errors.Is(err, errHelperGone) {
			return nil, err
		}
		// It died while idle (killed by hand, out of memory): the job
		// gets a fresh one.
	default:
		p.want()
	}
	return Launch(ctx, p.helper, cfg)
}

// Close stops refilling and ends the idle helpers. Helpers already given a
// job are not the pool's anymore.
func (p *Pool) Close() {
	p.close.Do(func() {
		close(p.closed)
		p.filler.Wait()
		for {
			select {
			case proc := <-p.idle:
				// End of file on its control socket: it exits by itself.
				proc.control.Close()
				_, _ = proc.Wait()
			default:
				return
			}
		}
	})
}

// want asks the filler to top the pool up.
func (p *Pool) want() {
	select {
	case p.wanted <- struct{}{}:
	default:
	}
}

// refillQuiet is how long the pool waits after the last launch before it
// starts replacements. Starting a helper takes about 2 ms of CPU; on a
// small machine that would slow the jobs just launched (measured: a
// /bin/true job's start-to-exit went from 3.8 to 5.6 ms on two CPUs). A
// burst of launches meanwhile starts helpers cold, as without a pool.
const refillQuiet = 10 * time.Millisecond

// quiet waits until no helper was taken for refillQuiet. It returns false
// when the pool is closed meanwhile.
func (p *Pool) quiet() bool {
	for {
		wait := time.Until(time.Unix(0, p.lastTake.Load()).Add(refillQuiet))
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

// keepFilled starts helpers whenever the pool is below its size.
func (p *Pool) keepFilled() {
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
		for len(p.idle) < cap(p.idle) {
			proc, err := startHelper(p.helper)
			if err != nil {
				// The helper cannot be started (removed, not executable):
				// the next Launch starts one itself and reports why.
				break
			}
			select {
			case p.idle <- proc:
			case <-p.closed:
				proc.control.Close()
				_, _ = proc.Wait()
				return
			}
		}
	}
}
