// Package servertest runs the real jobmanager binary for end-to-end tests:
// certificates made by the test, a server on a loopback port with its own
// data directory and cgroup parent, and clean-up that checks the server
// stopped gracefully and left no cgroup behind.
package servertest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/jobmanager/jobmanager/cgroupfs"
	"github.com/jobmanager/jobmanager/client/cli"
	"github.com/jobmanager/jobmanager/gen/go/jobmanager/v1/jobmanagerv1connect"
	"github.com/jobmanager/jobmanager/jobexec/jobexectest"
	"github.com/jobmanager/jobmanager/server/devcert"
)

// Users are the client identities every test certificate set holds.
var Users = []string{"client1", "client2", "administrator"}

// Binaries builds jobmanager, jobctl and jobexec into a new temporary
// directory and returns it; for TestMain (the caller removes it).
func Binaries() (string, error) {
	dir, err := os.MkdirTemp("", "jobmanager-bin-")
	if err != nil {
		return "", err
	}
	err = jobexectest.BuildBinaries(dir, "./server/cmd/jobmanager", "./client/cmd/jobctl", "./jobexec/cmd/jobexec")
	return dir, err
}

// Certs is a certificate directory made by a test.
type Certs struct {
	Dir string
	CA  *devcert.Authority
}

// NewCerts makes a CA and, in a new directory, ca.crt, server.crt/.key
// and a pair for each of Users.
func NewCerts(t testing.TB) *Certs {
	t.Helper()
	ca, err := devcert.NewAuthority("JobManager test CA")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	server, err := ca.IssueServer()
	if err != nil {
		t.Fatal(err)
	}
	if err := server.WriteFiles(dir, "server"); err != nil {
		t.Fatal(err)
	}
	for _, user := range Users {
		c, err := ca.IssueClient(user)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WriteFiles(dir, user); err != nil {
			t.Fatal(err)
		}
	}
	return &Certs{Dir: dir, CA: ca}
}

// Server is a running jobmanager process.
type Server struct {
	Addr    string
	DataDir string
	Certs   *Certs

	t       testing.TB
	binDir  string
	parent  string
	args    []string
	cmd     *exec.Cmd
	log     *syncBuffer
	stopped bool
}

// Start runs bin/jobmanager on 127.0.0.1 with a fresh data directory, a
// cgroup parent of its own and extra flags, and waits until it listens.
func Start(t testing.TB, binDir string, certs *Certs, extra ...string) *Server {
	t.Helper()
	jobexectest.RequireRoot(t)
	s := &Server{
		t: t, binDir: binDir, Certs: certs,
		DataDir: filepath.Join(t.TempDir(), "data"),
		parent:  "jobmanager-test-" + uuid.NewString()[:8],
		args:    extra,
	}
	s.start()
	t.Cleanup(func() {
		if !s.stopped {
			if code := s.Stop(); code != 0 {
				t.Errorf("server exited with status %d\n%s", code, s.Log())
			}
		}
		s.checkNoCgroups()
	})
	return s
}

var listening = regexp.MustCompile(`msg=listening addr=(\S+)`)

func (s *Server) start() {
	s.t.Helper()
	args := append([]string{
		"--listen", "127.0.0.1:0", "--certDir", s.Certs.Dir, "--data-dir", s.DataDir,
		"--cgroup-parent", s.parent,
	}, s.args...)
	s.cmd = exec.Command(filepath.Join(s.binDir, "jobmanager"), args...)
	// Each start logs to a buffer of its own: the reader of an earlier
	// run's stderr may still be draining it.
	log := &syncBuffer{}
	s.log = log
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.stopped = false
	addr := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stderr)
		for scanner.Scan() {
			line := scanner.Text()
			log.WriteString(line + "\n")
			if m := listening.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			_ = s.cmd.Wait()
			s.t.Fatalf("server did not start:\n%s", s.log.String())
		}
		s.Addr = a
	case <-time.After(30 * time.Second):
		s.t.Fatalf("server did not listen in time:\n%s", s.log.String())
	}
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Log returns what the server logged so far.
func (s *Server) Log() string { return s.log.String() }

// Stop sends SIGTERM and returns the exit status.
func (s *Server) Stop() int {
	return s.signalAndWait(syscall.SIGTERM)
}

// Kill9 kills the server as a crash would.
func (s *Server) Kill9() {
	s.signalAndWait(syscall.SIGKILL)
}

func (s *Server) signalAndWait(sig syscall.Signal) int {
	s.stopped = true
	_ = s.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
		s.t.Errorf("server did not exit after %v", sig)
	}
	return s.cmd.ProcessState.ExitCode()
}

// Restart starts the server again on the same data directory and parent.
func (s *Server) Restart() {
	s.t.Helper()
	s.start()
}

// checkNoCgroups fails the test when a job cgroup of this server is left,
// then removes the server's cgroup parent.
func (s *Server) checkNoCgroups() {
	cgroups, err := cgroupfs.New(cgroupfs.Options{Parent: s.parent})
	if err != nil {
		s.t.Errorf("open the server's cgroups: %v", err)
		return
	}
	if ids, err := cgroups.List(); err != nil || len(ids) > 0 {
		s.t.Errorf("cgroups left behind: %v %v", ids, err)
		return
	}
	if err := cgroups.RemoveParent(); err != nil {
		s.t.Error(err)
	}
}

// TLSConfig returns the client TLS configuration of user.
func (s *Server) TLSConfig(user string) *tls.Config {
	s.t.Helper()
	return s.Certs.ClientTLS(s.t, user)
}

// ClientTLS returns the client TLS configuration of user.
func (c *Certs) ClientTLS(t testing.TB, user string) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(c.Dir, user+".crt"), filepath.Join(c.Dir, user+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return ClientTLS(c.CA, cert)
}

// ClientTLS is a TLS 1.3 client configuration trusting only ca and
// presenting cert.
func ClientTLS(ca *devcert.Authority, cert tls.Certificate) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: ca.Pool(), Certificates: []tls.Certificate{cert}, ServerName: "localhost", NextProtos: []string{"h2"}}
}

// Client returns a gRPC client of the server as user.
func (s *Server) Client(user string) jobmanagerv1connect.JobManagerServiceClient {
	return ClientWith(s.Addr, s.TLSConfig(user))
}

// ClientWith returns a gRPC client of addr over HTTP/2 with tlsConfig.
func ClientWith(addr string, tlsConfig *tls.Config) jobmanagerv1connect.JobManagerServiceClient {
	httpClient := &http.Client{Transport: NewTransport(tlsConfig)}
	return jobmanagerv1connect.NewJobManagerServiceClient(httpClient, "https://"+addr, connect.WithGRPC())
}

// NewTransport returns an HTTP/2-only transport with tlsConfig, tuned as
// jobctl's: each one is a connection of its own.
func NewTransport(tlsConfig *tls.Config) *http.Transport {
	protocols := new(http.Protocols)
	protocols.SetHTTP2(true)
	return &http.Transport{TLSClientConfig: tlsConfig, Protocols: protocols, HTTP2: cli.HTTP2Config()}
}

// Jobctl runs bin/jobctl as user against the server and returns its
// stdout, stderr and exit status.
func (s *Server) Jobctl(ctx context.Context, user string, args ...string) (string, string, int) {
	full := append([]string{"--hostPort", s.Addr, "--certDir", s.Certs.Dir, "-u", user}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(s.binDir, "jobctl"), full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if exit, ok := err.(*exec.ExitError); ok {
			code = exit.ExitCode()
		}
	}
	return stdout.String(), stderr.String(), code
}

// WaitForLog waits until the server's log contains s.
func (s *Server) WaitForLog(text string) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.Log(), text) {
		if time.Now().After(deadline) {
			s.t.Fatalf("server log never said %q:\n%s", text, s.Log())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// RunWithBinaries is a TestMain: it builds the three binaries, sets
// *binDir, runs the tests, removes the binaries and exits.
func RunWithBinaries(m *testing.M, binDir *string) {
	dir, err := Binaries()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
