package job

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/jobmanager/jobmanager/cgroupfs"
	"github.com/jobmanager/jobmanager/jobexec/jobexectest"
)

var helperPath string

func TestMain(m *testing.M) {
	jobexectest.RunWithHelper(m, &helperPath, func() error {
		if err := goleak.Find(); err != nil {
			return fmt.Errorf("goroutines leaked: %w", err)
		}
		return nil
	})
}

const (
	alice = Caller("alice")
	bob   = Caller("bob")
	admin = Caller(Administrator)
)

type env struct {
	m       *Manager
	opts    Options
	cgroups cgroupfs.Manager
}

// newEnv opens a Manager on a fresh data directory and a cgroup parent of
// its own; the cleanup shuts it down and checks that no cgroup is left.
func newEnv(t *testing.T, mutate func(*Options)) *env {
	t.Helper()
	jobexectest.RequireRoot(t)
	parent := "jobmanager-test-" + uuid.NewString()[:8]
	cgroups, err := cgroupfs.New(cgroupfs.Options{Parent: parent})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		DataDir: t.TempDir(),
		Helper:  helperPath,
		Cgroups: cgroups,
		Limits:  DefaultLimitPolicy(2, 8<<30),
		// As the server does: jobs take helpers started ahead of them.
		WarmHelpers: 1,
	}
	if mutate != nil {
		mutate(&opts)
	}
	m, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{m: m, opts: opts, cgroups: cgroups}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if ids, _ := cgroups.List(); len(ids) > 0 {
			t.Errorf("cgroups left behind: %v", ids)
		}
		if err := cgroups.RemoveParent(); err != nil {
			t.Error(err)
		}
	})
	return e
}

func (e *env) start(t *testing.T, caller Caller, name, program string, args ...string) Status {
	t.Helper()
	status, err := e.m.Start(context.Background(), caller, StartRequest{Name: name, ProgramPath: program, Arguments: args})
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return status
}

// wait waits until the job has ended and returns its final status.
func (e *env) wait(t *testing.T, caller Caller, id string) Status {
	t.Helper()
	r, err := e.m.Stream(context.Background(), caller, id, Stdout, 0)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	j, _ := e.m.lookup(caller, id)
	select {
	case <-j.done:
	case <-time.After(30 * time.Second):
		t.Fatal("job did not end")
	}
	status, err := e.m.Query(context.Background(), caller, id)
	if err != nil {
		t.Fatal(err)
	}
	return status
}

// output reads a whole stream of a job.
func (e *env) output(t *testing.T, caller Caller, id string, stream Stream, offset int64) string {
	t.Helper()
	r, err := e.m.Stream(context.Background(), caller, id, stream, offset)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(context.Background(), buf)
		out.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			return out.String()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestStartRunsTheProgramAndRecordsItsEnd(t *testing.T) {
	e := newEnv(t, nil)
	started := e.start(t, alice, "greet", "/bin/sh", "-c", "echo out; echo err >&2; exit 3")
	// The program may already have ended when Start returns.
	if (started.State != StateRunning && started.State != StateExited) || started.Pid == 0 || started.Owner != "alice" {
		t.Fatalf("started: %+v", started)
	}
	if started.Limits != (Limits{CPUs: 1, MemoryBytes: 512 << 20, Pids: 1024}) {
		t.Errorf("effective limits %+v, want the server defaults", started.Limits)
	}
	if got := e.output(t, alice, started.ID, Stdout, 0); got != "out\n" {
		t.Errorf("stdout %q", got)
	}
	if got := e.output(t, alice, started.ID, Stderr, 0); got != "err\n" {
		t.Errorf("stderr %q", got)
	}
	final := e.wait(t, alice, started.ID)
	if final.State != StateExited || final.ExitCode != 3 || final.IsRunning() || final.EndTime.IsZero() {
		t.Fatalf("final: %+v", final)
	}
	if final.CPUTime <= 0 {
		t.Errorf("cpu time %v, want > 0", final.CPUTime)
	}
}

func TestInvalidRequestsCreateNothing(t *testing.T) {
	e := newEnv(t, nil)
	dir := t.TempDir()
	notExec := filepath.Join(dir, "plain")
	_ = os.WriteFile(notExec, []byte("x"), 0o644)
	tests := []struct {
		name string
		req  StartRequest
		want string
	}{
		{"no name", StartRequest{ProgramPath: "/bin/true"}, "name is required"},
		{"long name", StartRequest{Name: strings.Repeat("n", 129), ProgramPath: "/bin/true"}, "longer than 128"},
		{"control char", StartRequest{Name: "a\nb", ProgramPath: "/bin/true"}, "non-printable"},
		{"bad utf8", StartRequest{Name: "\xff", ProgramPath: "/bin/true"}, "UTF-8"},
		{"no path", StartRequest{Name: "j"}, "program path is required"},
		{"relative", StartRequest{Name: "j", ProgramPath: "bin/true"}, "not absolute"},
		{"missing", StartRequest{Name: "j", ProgramPath: "/no/such/program"}, "does not exist"},
		{"directory", StartRequest{Name: "j", ProgramPath: "/bin"}, "not a regular file"},
		{"not executable", StartRequest{Name: "j", ProgramPath: notExec}, "not executable"},
		{"NUL in argument", StartRequest{Name: "j", ProgramPath: "/bin/true", Arguments: []string{"a\x00b"}}, "NUL"},
		{"too many arguments", StartRequest{Name: "j", ProgramPath: "/bin/true", Arguments: make([]string, MaxArguments+1)}, "too many"},
		{"huge arguments", StartRequest{Name: "j", ProgramPath: "/bin/true", Arguments: []string{strings.Repeat("a", MaxArgumentBytes)}}, "bytes"},
		{"negative cpus", StartRequest{Name: "j", ProgramPath: "/bin/true", Limits: Limits{CPUs: -1}}, "cpus"},
		{"tiny cpus", StartRequest{Name: "j", ProgramPath: "/bin/true", Limits: Limits{CPUs: 0.001}}, "at least 0.01"},
		{"cpus over max", StartRequest{Name: "j", ProgramPath: "/bin/true", Limits: Limits{CPUs: 64}}, "maximum"},
		{"memory over max", StartRequest{Name: "j", ProgramPath: "/bin/true", Limits: Limits{MemoryBytes: 1 << 40}}, "maximum"},
		{"tiny memory", StartRequest{Name: "j", ProgramPath: "/bin/true", Limits: Limits{MemoryBytes: 1000}}, "at least"},
		{"negative pids", StartRequest{Name: "j", ProgramPath: "/bin/true", Limits: Limits{Pids: -3}}, "pids"},
		{"negative io", StartRequest{Name: "j", ProgramPath: "/bin/true", Limits: Limits{IOWriteBPS: -3}}, "io write"},
		{"tiny io", StartRequest{Name: "j", ProgramPath: "/bin/true", Limits: Limits{IOReadBPS: 10}}, "io read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.m.Start(context.Background(), alice, tt.req)
			if CodeOf(err) != CodeInvalidArgument || !strings.Contains(MessageOf(err), tt.want) {
				t.Fatalf("err = %v (code %v), want InvalidArgument about %q", err, CodeOf(err), tt.want)
			}
		})
	}
	if entries, _ := os.ReadDir(filepath.Join(e.opts.DataDir, "jobs")); len(entries) != 0 {
		t.Errorf("job directories created: %d", len(entries))
	}
	if ids, _ := e.cgroups.List(); len(ids) != 0 {
		t.Errorf("cgroups created: %v", ids)
	}
	if page, _, _ := e.m.List(context.Background(), admin, 0, ""); len(page) != 0 {
		t.Errorf("jobs listed: %d", len(page))
	}
}

func TestNameIsUniqueAmongTheCallersRunningJobs(t *testing.T) {
	e := newEnv(t, nil)
	first := e.start(t, alice, "build", "/bin/sleep", "60")
	_, err := e.m.Start(context.Background(), alice, StartRequest{Name: "build", ProgramPath: "/bin/true"})
	if CodeOf(err) != CodeAlreadyExists {
		t.Fatalf("second start: %v, want AlreadyExists", err)
	}
	e.start(t, bob, "build", "/bin/true") // another user's name space
	if err := e.m.Stop(context.Background(), alice, first.ID); err != nil {
		t.Fatal(err)
	}
	e.start(t, alice, "build", "/bin/true") // free again once ended
}

func TestOtherUsersJobsAreIndistinguishableFromMissingOnes(t *testing.T) {
	e := newEnv(t, nil)
	job := e.start(t, alice, "private", "/bin/sleep", "60")
	missing := uuid.NewString()
	ctx := context.Background()
	_, errOther := e.m.Query(ctx, bob, job.ID)
	_, errMissing := e.m.Query(ctx, bob, missing)
	if CodeOf(errOther) != CodeNotFound || CodeOf(errMissing) != CodeNotFound {
		t.Fatalf("codes %v %v, want NotFound", errOther, errMissing)
	}
	if strings.ReplaceAll(MessageOf(errOther), job.ID, "ID") != strings.ReplaceAll(MessageOf(errMissing), missing, "ID") {
		t.Fatalf("messages differ: %q vs %q", MessageOf(errOther), MessageOf(errMissing))
	}
	if err := e.m.Stop(ctx, bob, job.ID); CodeOf(err) != CodeNotFound {
		t.Errorf("bob stopped alice's job: %v", err)
	}
	if _, err := e.m.Stream(ctx, bob, job.ID, Stdout, 0); CodeOf(err) != CodeNotFound {
		t.Errorf("bob streamed alice's job: %v", err)
	}
	if page, _, _ := e.m.List(ctx, bob, 0, ""); len(page) != 0 {
		t.Errorf("bob lists %d jobs", len(page))
	}
	if page, _, _ := e.m.List(ctx, Caller("Administrator"), 0, ""); len(page) != 0 {
		t.Errorf("'Administrator' (capitalised) is not the administrator, yet lists %d jobs", len(page))
	}
	if page, _, _ := e.m.List(ctx, admin, 0, ""); len(page) != 1 {
		t.Errorf("administrator lists %d jobs, want 1", len(page))
	}
	if err := e.m.Stop(ctx, admin, job.ID); err != nil {
		t.Errorf("administrator cannot stop: %v", err)
	}
	if _, err := e.m.Query(ctx, alice, "not-a-uuid"); CodeOf(err) != CodeInvalidArgument {
		t.Errorf("malformed id: %v", err)
	}
}

func TestStopKillsTheWholeJobAndRecordsSignal9(t *testing.T) {
	e := newEnv(t, nil)
	job := e.start(t, alice, "tree", "/bin/sh", "-c", "sleep 60 & setsid sleep 60 & sleep 60")
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.m.Stop(context.Background(), alice, job.ID); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	status, _ := e.m.Query(context.Background(), alice, job.ID)
	if status.State != StateKilled || status.Signal != int(syscall.SIGKILL) || status.IsRunning() {
		t.Fatalf("after Stop: %+v", status)
	}
	if err := e.m.Stop(context.Background(), alice, job.ID); err != nil {
		t.Fatalf("stopping an ended job: %v", err)
	}
	if ids, _ := e.cgroups.List(); len(ids) != 0 {
		t.Fatalf("cgroup left after stop: %v", ids)
	}
}

func TestExecFailureKeepsAFailedRecord(t *testing.T) {
	e := newEnv(t, nil)
	garbage := filepath.Join(t.TempDir(), "garbage")
	_ = os.WriteFile(garbage, []byte{0x7f, 'X', 1, 2}, 0o755)
	status, err := e.m.Start(context.Background(), alice, StartRequest{Name: "bad", ProgramPath: garbage})
	if CodeOf(err) != CodeInvalidArgument || !strings.Contains(MessageOf(err), "exec format error") {
		t.Fatalf("err = %v", err)
	}
	if status.State != StateFailedToStart || !strings.Contains(status.Error, "exec format error") || status.ID == "" {
		t.Fatalf("status %+v", status)
	}
	listed, _, _ := e.m.List(context.Background(), alice, 0, "")
	if len(listed) != 1 || listed[0].State != StateFailedToStart {
		t.Fatalf("listed %+v", listed)
	}
	if ids, _ := e.cgroups.List(); len(ids) != 0 {
		t.Fatalf("cgroup left: %v", ids)
	}
	e.start(t, alice, "bad", "/bin/true") // the name is free
}

func TestLimitTheKernelRefusesFailsTheStart(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.IODevice = cgroupfs.Device{Major: 4095, Minor: 4095} })
	status, err := e.m.Start(context.Background(), alice, StartRequest{Name: "io", ProgramPath: "/bin/true", Limits: Limits{IOReadBPS: 1 << 20}})
	if CodeOf(err) != CodeInternal || strings.Contains(MessageOf(err), "/sys/fs/cgroup") {
		t.Fatalf("err = %v: want Internal without paths", err)
	}
	if status.State != StateFailedToStart || status.Error == "" {
		t.Fatalf("status %+v", status)
	}
}

func TestStreamsFollowLiveOutputAndResume(t *testing.T) {
	e := newEnv(t, nil)
	fifo := filepath.Join(t.TempDir(), "gate")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	job := e.start(t, alice, "live", "/bin/sh", "-c", fmt.Sprintf("echo first; read x < %s; echo second", fifo))
	results := make(chan string, 3)
	for range 3 {
		r, err := e.m.Stream(context.Background(), alice, job.ID, Stdout, 0)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer r.Close()
			var out bytes.Buffer
			buf := make([]byte, 3)
			for {
				n, err := r.Read(context.Background(), buf)
				out.Write(buf[:n])
				if err != nil {
					break
				}
			}
			results <- out.String()
		}()
	}
	// Everyone has "first" while the job is blocked on the FIFO.
	deadline := time.Now().Add(10 * time.Second)
	for e.m.jobs[job.ID].stdout.Size() < int64(len("first\n")) {
		if time.Now().After(deadline) {
			t.Fatal("no output")
		}
		time.Sleep(time.Millisecond)
	}
	if err := os.WriteFile(fifo, []byte("go\n"), 0); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if got := <-results; got != "first\nsecond\n" {
			t.Fatalf("reader got %q", got)
		}
	}
	if got := e.output(t, alice, job.ID, Stdout, 6); got != "second\n" {
		t.Fatalf("resume from 6: %q", got)
	}
	if _, err := e.m.Stream(context.Background(), alice, job.ID, Stdout, 100); CodeOf(err) != CodeOutOfRange {
		t.Fatalf("offset past the end: %v", err)
	}
	if _, err := e.m.Stream(context.Background(), alice, job.ID, Stdout, -1); CodeOf(err) != CodeInvalidArgument {
		t.Fatalf("negative offset: %v", err)
	}
	if _, err := e.m.Stream(context.Background(), alice, job.ID, Stream(7), 0); CodeOf(err) != CodeInvalidArgument {
		t.Fatalf("bad stream: %v", err)
	}
}

func TestOutputBeyondTheCapIsDroppedAndReported(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.OutputLimit = 1000 })
	job := e.start(t, alice, "chatty", "/bin/sh", "-c", "head -c 5000 /dev/zero; echo done >&2")
	final := e.wait(t, alice, job.ID)
	if !final.OutputTruncated || final.State != StateExited || final.ExitCode != 0 {
		t.Fatalf("final %+v", final)
	}
	if got := e.output(t, alice, job.ID, Stdout, 0); len(got) != 1000 {
		t.Fatalf("kept %d bytes, want 1000", len(got))
	}
}

func TestListPagesInStartOrder(t *testing.T) {
	e := newEnv(t, nil)
	var ids []string
	for i := range 5 {
		ids = append(ids, e.start(t, alice, fmt.Sprintf("j%d", i), "/bin/true").ID)
	}
	e.start(t, bob, "bobs", "/bin/true")
	var got []string
	token := ""
	pages := 0
	for {
		page, next, err := e.m.List(context.Background(), alice, 2, token)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, s := range page {
			got = append(got, s.ID)
		}
		if next == "" {
			break
		}
		token = next
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") || pages != 3 {
		t.Fatalf("pages %d, ids %v, want %v", pages, got, ids)
	}
	for _, bad := range []string{"garbage", encodePageToken(999), encodePageToken(0)} {
		if _, _, err := e.m.List(context.Background(), alice, 2, bad); CodeOf(err) != CodeInvalidArgument {
			t.Errorf("token %q: %v", bad, err)
		}
	}
	if _, _, err := e.m.List(context.Background(), alice, -1, ""); CodeOf(err) != CodeInvalidArgument {
		t.Errorf("negative page size: %v", err)
	}
}

func TestRunningJobsAreBounded(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxRunningJobs = 1 })
	e.start(t, alice, "one", "/bin/sleep", "60")
	if _, err := e.m.Start(context.Background(), bob, StartRequest{Name: "two", ProgramPath: "/bin/true"}); CodeOf(err) != CodeResourceExhausted {
		t.Fatalf("err = %v, want ResourceExhausted", err)
	}
}

func TestShutdownStopsJobsAndEndsStreams(t *testing.T) {
	e := newEnv(t, nil)
	job := e.start(t, alice, "long", "/bin/sleep", "60")
	r, err := e.m.Stream(context.Background(), alice, job.ID, Stdout, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(ctx, make([]byte, 10)); !errors.Is(err, io.EOF) {
		t.Fatalf("stream after shutdown: %v, want EOF", err)
	}
	status, _ := e.m.Query(ctx, alice, job.ID)
	if status.State != StateKilled || status.Signal != 9 || !strings.Contains(status.Error, "shutdown") {
		t.Fatalf("status %+v", status)
	}
	if _, err := e.m.Start(ctx, alice, StartRequest{Name: "late", ProgramPath: "/bin/true"}); CodeOf(err) != CodeUnavailable {
		t.Fatalf("start after shutdown: %v", err)
	}
}

func TestRestartKeepsRecordsAndMarksRunningJobsLost(t *testing.T) {
	e := newEnv(t, nil)
	done := e.start(t, alice, "done", "/bin/sh", "-c", "echo kept")
	e.wait(t, alice, done.ID)
	// The end is visible before its record is on disk (the durable save
	// comes after the cgroup's removal); a crash in between would leave
	// the job lost, which is not what this test is about.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		data, _ := os.ReadFile(filepath.Join(e.m.store.jobDir(done.ID), "job.json"))
		var record Status
		if json.Unmarshal(data, &record) == nil && record.State == StateExited {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ended job's record never said so: %s", data)
		}
	}
	running := e.start(t, alice, "running", "/bin/sh", "-c", "echo before; exec sleep 60")
	for e.m.jobs[running.ID].stdout.Size() == 0 {
		time.Sleep(time.Millisecond)
	}
	// A second manager on the same directory sees what a restarted server
	// sees after a crash: a record that says running, and a live cgroup.
	// A crashed server makes no more spare job directories.
	e.m.spares.Close()
	m2, err := Open(e.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m2.Shutdown(context.Background()) })
	lost, err := m2.Query(context.Background(), alice, running.ID)
	if err != nil {
		t.Fatal(err)
	}
	if lost.State != StateLost || lost.Error == "" || lost.IsRunning() {
		t.Fatalf("lost job: %+v", lost)
	}
	if ids, _ := e.cgroups.List(); len(ids) != 0 {
		t.Fatalf("leftover cgroups not removed: %v", ids)
	}
	kept, _ := m2.Query(context.Background(), alice, done.ID)
	if kept.State != StateExited {
		t.Fatalf("ended job: %+v", kept)
	}
	r, err := m2.Stream(context.Background(), alice, done.ID, Stdout, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, _ := r.Read(context.Background(), buf)
	r.Close()
	if string(buf[:n]) != "kept\n" {
		t.Fatalf("output after restart: %q", buf[:n])
	}
	// The first manager sees its job die and ends its monitor.
	e.wait(t, alice, running.ID)
}
