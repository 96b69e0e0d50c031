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
// validation, record, logs, cgroup with the default limits, launch, exit,
// cleanup and the final record, as a caller waiting for the end sees it.
func BenchmarkStartToExit(b *testing.B) {
	m := benchManager(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
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
	m := benchManager(b)
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
	m := benchManager(b)
	fillJobs(b, m, 10000)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := m.List(ctx, alice, 100, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func benchManager(b *testing.B) *Manager {
	jobexectest.RequireRoot(b)
	parent := "jobmanager-bench-" + uuid.NewString()[:8]
	cgroups, err := cgroupfs.New(cgroupfs.Options{Parent: parent})
	if err != nil {
		b.Fatal(err)
	}
	m, err := Open(Options{DataDir: b.TempDir(), Helper: helperPath, Cgroups: cgroups, Limits: DefaultLimitPolicy(2, 8<<30)})
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
		j := &job{status: Status{ID: id, Name: fmt.Sprint(i), Owner: owner, ProgramPath: "/bin/true", State: StateExited, StartTime: time.Now()}, done: closedChan()}
		j.setLog(Stdout, empty)
		j.setLog(Stderr, empty)
		m.register(j)
		if owner == "alice" {
			ids = append(ids, id)
		}
	}
	return ids
}
