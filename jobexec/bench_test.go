package jobexec_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jobmanager/jobmanager/cgroupfs"
	"github.com/jobmanager/jobmanager/jobexec"
	"github.com/jobmanager/jobmanager/jobexec/jobexectest"
)

// BenchmarkIsolatedTrue measures start-to-exit of /bin/true in new PID,
// mount and network namespaces under cpu, memory, io and pids limits:
// cgroup creation, launch, exec, exit, and cgroup removal. "cold" starts
// each helper with its job, back to back; "warm" takes it from a Pool of
// one after a pause (not timed) in which the pool refills.
func BenchmarkIsolatedTrue(b *testing.B) {
	b.Run("cold", func(b *testing.B) {
		benchmarkIsolatedTrue(b, 0, func(ctx context.Context, cfg jobexec.Config) (*jobexec.Process, error) {
			return jobexec.Launch(ctx, helperPath, cfg)
		})
	})
	b.Run("warm", func(b *testing.B) {
		pool := jobexec.NewPool(helperPath, 1)
		defer pool.Close()
		benchmarkIsolatedTrue(b, 20*time.Millisecond, pool.Launch)
	})
}

func benchmarkIsolatedTrue(b *testing.B, pause time.Duration, launch func(context.Context, jobexec.Config) (*jobexec.Process, error)) {
	jobexectest.RequireRoot(b)
	parent := "jobmanager-bench-" + uuid.NewString()[:8]
	m, err := cgroupfs.New(cgroupfs.Options{Parent: parent})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.RemoveParent() })
	dev, err := cgroupfs.DeviceOf(os.TempDir())
	if err != nil {
		b.Skip(err)
	}
	limits := cgroupfs.Limits{CPUs: 1, MemoryBytes: 256 << 20, Pids: 64, IOReadBPS: 100 << 20, IOWriteBPS: 100 << 20, IODevice: dev}
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devNull.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if pause > 0 {
			b.StopTimer()
			time.Sleep(pause)
			b.StartTimer()
		}
		cg, err := m.Create(fmt.Sprintf("job-%d", i), limits)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		proc, err := launch(ctx, jobexec.Config{
			Program: "/bin/true", CgroupProcs: cg.ProcsFiles(),
			Stdout: devNull, Stderr: devNull,
		})
		if err != nil {
			b.Fatal(err)
		}
		if status, err := proc.Wait(); err != nil || status != (jobexec.ExitStatus{}) {
			b.Fatalf("status %v, %v", status, err)
		}
		if err := cg.Remove(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
}
