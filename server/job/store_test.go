package job

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
)

// spareIDs lists the spare job directories of the data directory.
func spareIDs(t *testing.T, dataDir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dataDir, "spare"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	return ids
}

// waitForSpares polls until the data directory has n spare directories.
func waitForSpares(t *testing.T, dataDir string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ids := spareIDs(t, dataDir)
		if len(ids) == n {
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d spare job directories, want %d", len(ids), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestJobsTakeSpareDirectoriesAndLeaveNoneBehind(t *testing.T) {
	// A directory left by an earlier run goes at Open.
	dataDir := t.TempDir()
	stale := filepath.Join(dataDir, "spare", uuid.NewString())
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) { o.DataDir = dataDir })
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale spare directory still there: %v", err)
	}
	spare := waitForSpares(t, dataDir, 1)[0]
	status := e.start(t, alice, "spare", "/bin/sh", "-c", "echo out; echo err >&2")
	if status.ID != spare {
		t.Fatalf("job %s did not take the spare directory %s", status.ID, spare)
	}
	e.wait(t, alice, status.ID)
	waitForSpares(t, dataDir, 1) // replaced
	// Shutdown also waits for the job's final record.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(e.m.store.jobDir(status.ID))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, entry := range entries {
		names = append(names, entry.Name())
	}
	if want := []string{"job.json", "stderr", "stdout"}; !slices.Equal(names, want) {
		t.Fatalf("job directory holds %v, want %v", names, want)
	}
	for stream, want := range map[Stream]string{Stdout: "out\n", Stderr: "err\n"} {
		if data, _ := os.ReadFile(e.m.store.outputPath(status.ID, stream)); string(data) != want {
			t.Errorf("%s = %q, want %q", stream.fileName(), data, want)
		}
	}
	if ids := spareIDs(t, dataDir); len(ids) != 0 {
		t.Fatalf("spare directories left after shutdown: %v", ids)
	}
}
