package job

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jobmanager/jobmanager/cgroupfs"
	"github.com/jobmanager/jobmanager/jobexec/jobexectest"
	"github.com/jobmanager/jobmanager/server/outputlog"
)

// BenchmarkStartToExit measures an isolated /bin/true through the library:
// validation, record, logs, cgroup with the default limits, launch, exit
// and the final record, as a caller waiting for the end sees it. "cold"
// starts jobs back to back, each with a newly started helper; "warm" takes
// each job's helper from a pool of one and starts it after a pause (not
// timed) in which the pool refills, as one start on an idle server does.
func BenchmarkStartToExit(b *testing.B) {
	b.Run("cold", func(b *testing.B) { benchmarkStartToExit(b, 0, 0) })
	b.Run("warm", func(b *testing.B) { benchmarkStartToExit(b, 1, 20*time.Millisecond) })
}

func benchmarkStartToExit(b *testing.B, warmHelpers int, pause time.Duration) {
	m := benchManager(b, warmHelpers)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if pause > 0 {
			b.StopTimer()
			time.Sleep(pause)
			b.StartTimer()
		}
		status, err := m.Start(ctx, alice, StartRequest{Name: fmt.Sprint(i), ProgramPath: "/bin/true"})
		if err != nil {
			b.Fatal(err)
		}
		m.mu.Lock()
		j := m.jobs[status.ID]
		m.mu.Unlock()
		<-j.done
	}
}

// BenchmarkQuery measures Query with 10 000 jobs in the store.
func BenchmarkQuery(b *testing.B) {
	m := benchManager(b, 0)
	ids := fillJobs(b, m, 10000)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Query(ctx, alice, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListPage measures one 100-job page for an ordinary user among
// 10 000 jobs of several users.
func BenchmarkListPage(b *testing.B) {
	m := benchManager(b, 0)
	fillJobs(b, m, 10000)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := m.List(ctx, alice, 100, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func benchManager(b *testing.B, warmHelpers int) *Manager {
	jobexectest.RequireRoot(b)
	parent := "jobmanager-bench-" + uuid.NewString()[:8]
	cgroups, err := cgroupfs.New(cgroupfs.Options{Parent: parent})
	if err != nil {
		b.Fatal(err)
	}
	m, err := Open(Options{DataDir: b.TempDir(), Helper: helperPath, Cgroups: cgroups, Limits: DefaultLimitPolicy(2, 8<<30), WarmHelpers: warmHelpers})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = m.Shutdown(ctx)
		_ = cgroups.RemoveParent()
	})
	return m
}

// fillJobs registers n ended jobs (a quarter of them alice's) without
// running them or giving them files: the store's size, not process
// start-up, is measured. They share one empty output log.
func fillJobs(b *testing.B, m *Manager, n int) []string {
	empty, err := outputlog.OpenComplete(filepath.Join(b.TempDir(), "empty"), false)
	if err != nil {
		b.Fatal(err)
	}
	owners := []string{"alice", "bob", "carol", "dave"}
	var ids []string
	for i := range n {
		id := uuid.NewString()
		owner := owners[i%len(owners)]
		j := &job{status: Status{ID: id, Name: fmt.Sprint(i), Owner: owner, ProgramPath: "/bin/true", State: StateExited, StartTime: time.Now()}, done: closedChan(), cleaned: closedChan()}
		j.setLog(Stdout, empty)
		j.setLog(Stderr, empty)
		m.register(j)
		if owner == "alice" {
			ids = append(ids, id)
		}
	}
	return ids
}
