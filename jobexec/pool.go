package jobexec

import (
	"context"
	"errors"

	"github.com/jobmanager/jobmanager/internal/warm"
)

// Pool keeps a few helpers started ahead of time, each already in its own
// new namespaces with /proc mounted and loopback up, waiting for a job. A
// job launched from the pool skips the helper's start (the fork into new
// namespaces and the Go runtime's start-up, about 2.5 ms of the 7 ms a
// cold start-to-exit took on the reference machine); the pool then starts
// a replacement in the background, once no job was launched for
// warm.Quiet.
//
// An idle helper is not in any job's cgroups and has no job's descriptors:
// it becomes a job's only when Launch hands it the job, and nothing of the
// program runs before it is inside the job's cgroups, as with a cold
// start. Idle helpers die with the server like any helper (Pdeathsig and
// the end of file on their control socket).
type Pool struct {
	helper string
	idle   *warm.Pool[*Process]
}

// NewPool returns a pool that keeps size helpers (the binary at path
// helper) waiting. With size 0 every Launch starts its helper then.
func NewPool(helper string, size int) *Pool {
	return &Pool{
		helper: helper,
		idle: warm.New(size,
			func() (*Process, error) { return startHelper(helper) },
			func(proc *Process) {
				// End of file on its control socket: it exits by itself.
				proc.control.Close()
				_, _ = proc.Wait()
			}),
	}
}

// Launch is the package's Launch, with an idle helper when one is waiting
// and a newly started one otherwise.
func (p *Pool) Launch(ctx context.Context, cfg Config) (*Process, error) {
	if proc, ok := p.idle.Take(); ok {
		err := proc.assign(ctx, cfg)
		switch {
		case err == nil:
			return proc, nil
		case !errors.Is(err, errHelperGone):
			return nil, err
		}
		// It died while idle (killed by hand, out of memory): the job
		// gets a fresh one.
	}
	return Launch(ctx, p.helper, cfg)
}

// Close ends the idle helpers and starts no more. Helpers already given a
// job are not the pool's anymore.
func (p *Pool) Close() { p.idle.Close() }
