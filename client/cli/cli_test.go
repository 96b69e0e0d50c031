package cli_test

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jobmanager/jobmanager/server/servertest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	servertest.RunWithBinaries(m, &binDir)
}

var uuidPattern = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// golden compares got, with ids normalized (same length, so tables keep
// their widths), to testdata/NAME.golden.
func golden(t *testing.T, name, got string) {
	t.Helper()
	got = uuidPattern.ReplaceAllString(got, "00000000-0000-0000-0000-000000000000")
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./client/cli -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// jobctl runs the binary without a server (help, usage errors).
func jobctl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "jobctl"), args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "JOBMANAGER_CERT_DIR=/nonexistent-certs")
	err := cmd.Run()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	}
	return stdout.String(), stderr.String(), code
}

func TestHelpOfEveryCommand(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"start", "--help"}, {"stop", "--help"}, {"query", "--help"}, {"list", "--help"},
		{"stream", "--help"}, {"run", "--help"}, {"completion", "--help"},
	} {
		name := "help-" + args[0]
		if args[0] == "--help" {
			name = "help-root"
		}
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code := jobctl(t, args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			golden(t, name, stdout)
		})
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		stdout, _, code := jobctl(t, "completion", shell)
		if code != 0 || !strings.Contains(stdout, "jobctl") {
			t.Errorf("completion %s: exit %d, %d bytes", shell, code, len(stdout))
		}
	}
}

// expectFailure checks the error contract: non-zero exit, one line on
// stderr containing want, nothing on stdout.
func expectFailure(t *testing.T, stdout, stderr string, code int, want string) {
	t.Helper()
	if code == 0 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("exit %d, stdout %q, stderr %q: want one line about %q", code, stdout, stderr, want)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"start", "-c", "/bin/true"}, `"jobName" not set`},
		{[]string{"start", "-j", "x"}, `"command" not set`},
		{[]string{"start", "-j", "x", "-c", "/bin/true", "--memory", "lots"}, "--memory"},
		{[]string{"start", "-j", "x", "-c", "/bin/true", "-o", "yaml"}, "--output"},
		{[]string{"stream", "-s", "stdin", "x"}, "--stream"},
		{[]string{"query"}, "accepts 1 arg"},
		{[]string{"nonsense"}, "unknown command"},
		{[]string{"list"}, "CA certificate"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, stderr, code := jobctl(t, tt.args...)
			expectFailure(t, stdout, stderr, code, tt.want)
		})
	}
}

func TestUnreachableServerFailsFast(t *testing.T) {
	certs := servertest.NewCerts(t)
	start := time.Now()
	stdout, stderr, code := jobctl(t, "--certDir", certs.Dir, "--hostPort", "127.0.0.1:1", "list")
	expectFailure(t, stdout, stderr, code, "cannot reach the JobManager server at 127.0.0.1:1")
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Fatalf("took %v", elapsed)
	}
}

func TestCommandsAgainstARealServer(t *testing.T) {
	s := servertest.Start(t, binDir, servertest.NewCerts(t))
	ctx := context.Background()
	run := func(user string, args ...string) (string, string, int) {
		t.Helper()
		return s.Jobctl(ctx, user, args...)
	}

	// start prints the seed's NAME/ID table.
	stdout, stderr, code := run("client1", "start", "-j", "date", "-c", "/bin/date")
	if code != 0 {
		t.Fatalf("start: %d %s", code, stderr)
	}
	golden(t, "start-table", stdout)

	// A job that cannot start is listed with its error: a deterministic row.
	// A fixed path, so that the error in the golden tables is the same in
	// every run.
	garbage := "/tmp/jobctl-golden/garbage"
	if err := os.MkdirAll(filepath.Dir(garbage), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(garbage, []byte{0x7f, 'X', 0}, 0o755); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = run("client1", "start", "-j", "broken", "-c", garbage)
	expectFailure(t, stdout, stderr, code, "exec format error")
	stdout, stderr, code = run("client2", "start", "-j", "other", "-c", garbage)
	expectFailure(t, stdout, stderr, code, "exec format error")

	stdout, _, _ = run("client1", "list", "-o", "json")
	brokenID := ""
	for _, id := range uuidPattern.FindAllString(stdout, -1) {
		q, _, _ := run("client1", "query", id)
		if strings.Contains(q, "broken") {
			brokenID = id
			golden(t, "query-failed-table", q)
		}
	}
	if brokenID == "" {
		t.Fatalf("failed job not listed: %s", stdout)
	}
	adminQuery, _, _ := run("administrator", "query", brokenID)
	golden(t, "query-failed-admin-table", adminQuery)

	// -o json emits every field, even zero ones.
	stdout, _, _ = run("client1", "query", "-o", "json", brokenID)
	for _, field := range []string{`"exitCode": 0`, `"signalNumber": 0`, `"isRunning": false`, `"oomKilled": false`, `"state": "JOB_STATE_FAILED_TO_START"`, `"outputTruncated": false`} {
		if !strings.Contains(stdout, field) {
			t.Errorf("query -o json lacks %s:\n%s", field, stdout)
		}
	}

	// Only the administrator sees others' jobs, with an OWNER column.
	stdout, _, _ = run("client2", "list")
	if strings.Contains(stdout, "broken") || !strings.Contains(stdout, "other") || strings.Contains(stdout, "OWNER") {
		t.Errorf("client2's list:\n%s", stdout)
	}
	stdout, _, _ = run("administrator", "list")
	if !strings.Contains(stdout, "broken") || !strings.Contains(stdout, "other") || !strings.HasPrefix(strings.Split(stdout, "\n")[1], "| OWNER") {
		t.Errorf("administrator's list:\n%s", stdout)
	}

	// stream writes the raw bytes, exactly; -s stderr the other stream.
	stdout, stderr, code = run("client1", "run", "-j", "bytes", "-c", "/usr/bin/printf", "--", `a\000b\377\nend`)
	if code != 0 || stdout != "a\x00b\xff\nend" || stderr != "" {
		t.Fatalf("run bytes: %d %q %q", code, stdout, stderr)
	}
	stdout, _, _ = run("client1", "start", "-j", "both", "-c", "/bin/sh", "-o", "json", "--", "-c", "echo to-out; echo to-err >&2")
	id := uuidPattern.FindString(stdout)
	if out, _, code := run("client1", "stream", id); code != 0 || out != "to-out\n" {
		t.Errorf("stream stdout: %d %q", code, out)
	}
	if out, _, code := run("client1", "stream", "-s", "stderr", id); code != 0 || out != "to-err\n" {
		t.Errorf("stream stderr: %d %q", code, out)
	}

	// stop, then query shows the kill.
	stdout, _, _ = run("client1", "start", "-j", "sleeper", "-c", "/bin/sleep", "--cpu", "0.5", "--memory", "64MiB", "--pids", "10", "-o", "json", "--", "600")
	id = uuidPattern.FindString(stdout)
	if _, stderr, code := run("client1", "stop", id); code != 0 {
		t.Fatalf("stop: %s", stderr)
	}
	stdout, _, _ = run("client1", "query", "-o", "json", id)
	for _, field := range []string{`"signalNumber": 9`, `"state": "JOB_STATE_KILLED"`, `"memoryBytes": "67108864"`, `"cpus": 0.5`, `"pids": "10"`} {
		if !strings.Contains(stdout, field) {
			t.Errorf("stopped job lacks %s:\n%s", field, stdout)
		}
	}

	// Errors: one line, nothing on stdout, and another user's job is
	// reported like a missing one.
	stdout, stderr, code = run("client2", "query", id)
	expectFailure(t, stdout, stderr, code, "not found")
	stdout, stderr, code = run("client1", "stop", "not-an-id")
	expectFailure(t, stdout, stderr, code, "not a valid id")
	stdout, stderr, code = run("client1", "start", "-j", "rel", "-c", "bin/true")
	expectFailure(t, stdout, stderr, code, "not absolute")
	stdout, stderr, code = run("nobody", "list")
	expectFailure(t, stdout, stderr, code, `credentials of user "nobody"`)
}

func TestRunPropagatesExitCodesAndSignals(t *testing.T) {
	s := servertest.Start(t, binDir, servertest.NewCerts(t))
	ctx := context.Background()
	stdout, stderr, code := s.Jobctl(ctx, "client1", "run", "-j", "three", "-c", "/bin/sh", "--", "-c", "echo out; echo err >&2; exit 3")
	if code != 3 || stdout != "out\n" || stderr != "err\n" {
		t.Fatalf("exit 3: %d %q %q", code, stdout, stderr)
	}
	_, _, code = s.Jobctl(ctx, "client1", "run", "-j", "term", "-c", "/bin/sh", "--", "-c", "kill -TERM $$")
	if code != 128+int(syscall.SIGTERM) {
		t.Fatalf("killed by SIGTERM: exit %d, want 143", code)
	}
	_, _, code = s.Jobctl(ctx, "client1", "run", "-j", "ok", "-c", "/bin/true")
	if code != 0 {
		t.Fatalf("true: exit %d", code)
	}
}

func TestInterruptEndsStreamCleanly(t *testing.T) {
	s := servertest.Start(t, binDir, servertest.NewCerts(t))
	ctx := context.Background()
	stdout, _, _ := s.Jobctl(ctx, "client1", "start", "-j", "endless", "-c", "/bin/sh", "-o", "json", "--", "-c", "echo tick; exec sleep 600")
	id := uuidPattern.FindString(stdout)
	cmd := exec.Command(filepath.Join(binDir, "jobctl"), "--hostPort", s.Addr, "--certDir", s.Certs.Dir, "stream", id)
	var out, errOut lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "tick") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	exit, _ := err.(*exec.ExitError)
	if exit == nil || exit.ExitCode() != 130 || errOut.String() != "" || out.String() != "tick\n" {
		t.Fatalf("after Ctrl-C: %v, stdout %q, stderr %q", err, out.String(), errOut.String())
	}
}

// lockedBuffer is a buffer that a running command writes while the test
// reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
