package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	jobmanagerv1 "github.com/jobmanager/jobmanager/gen/go/jobmanager/v1"
	"github.com/jobmanager/jobmanager/jobexec/jobexectest"
	"github.com/jobmanager/jobmanager/server/devcert"
	"github.com/jobmanager/jobmanager/server/servertest"
)

var binDir string

func TestMain(m *testing.M) { servertest.RunWithBinaries(m, &binDir) }

func startJob(t *testing.T, client interface {
	Start(context.Context, *connect.Request[jobmanagerv1.StartRequest]) (*connect.Response[jobmanagerv1.StartResponse], error)
}, name, program string, args ...string) string {
	t.Helper()
	resp, err := client.Start(context.Background(), connect.NewRequest(&jobmanagerv1.StartRequest{Name: name, ProgramPath: program, Arguments: args}))
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return resp.Msg.GetJob().GetId()
}

func TestGracefulShutdownStopsJobsAndEndsStreams(t *testing.T) {
	s := servertest.Start(t, binDir, servertest.NewCerts(t))
	client := s.Client("client1")
	id := startJob(t, client, "long", "/bin/sh", "-c", "echo started; exec sleep 600")
	stream, err := client.StreamOutput(context.Background(), connect.NewRequest(&jobmanagerv1.StreamOutputRequest{JobId: id, OutputStream: jobmanagerv1.OutputStream_OUTPUT_STREAM_STDOUT}))
	if err != nil {
		t.Fatal(err)
	}
	if !stream.Receive() || string(stream.Msg().GetOutput()) != "started\n" {
		t.Fatalf("first chunk: %v", stream.Err())
	}
	ended := make(chan error)
	go func() {
		for stream.Receive() {
		}
		ended <- stream.Err()
	}()
	if code := s.Stop(); code != 0 {
		t.Fatalf("exit status %d\n%s", code, s.Log())
	}
	select {
	case err := <-ended:
		if err != nil {
			t.Fatalf("stream ended with %v, want a clean end", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream did not end at shutdown")
	}
	s.Restart()
	status := query(t, s.Client("client1"), id)
	if status.GetState() != jobmanagerv1.JobState_JOB_STATE_KILLED || status.GetSignalNumber() != 9 || !strings.Contains(status.GetErrorMessage(), "shutdown") {
		t.Fatalf("after restart: %v", status)
	}
}

func query(t *testing.T, client interface {
	Query(context.Context, *connect.Request[jobmanagerv1.QueryRequest]) (*connect.Response[jobmanagerv1.QueryResponse], error)
}, id string) *jobmanagerv1.JobStatus {
	t.Helper()
	resp, err := client.Query(context.Background(), connect.NewRequest(&jobmanagerv1.QueryRequest{JobId: id}))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg.GetStatus()
}

func TestCrashThenRestartMarksJobsLostAndKeepsOutput(t *testing.T) {
	s := servertest.Start(t, binDir, servertest.NewCerts(t))
	client := s.Client("client1")
	// Jobs run as nobody: the marker goes where nobody may write.
	markerDir, err := os.MkdirTemp("", "jobmanager-crash-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(markerDir) })
	if err := os.Chmod(markerDir, 0o777); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(markerDir, "alive")
	id := startJob(t, client, "victim", "/bin/sh", "-c", fmt.Sprintf("echo before-crash; touch %s; exec sleep 600", marker))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("job never ran")
		}
		time.Sleep(5 * time.Millisecond)
	}
	pid := query(t, client, id).GetPid()
	s.Kill9()
	// The job dies with the server: its helper sees the control pipe close.
	deadline = time.Now().Add(10 * time.Second)
	for syscall.Kill(int(pid), 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("job process %d outlived the crashed server", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Restart()
	client = s.Client("client1")
	status := query(t, client, id)
	if status.GetState() != jobmanagerv1.JobState_JOB_STATE_LOST || status.GetIsRunning() || status.GetErrorMessage() == "" {
		t.Fatalf("after crash: %v", status)
	}
	if got := streamAll(t, client, id, jobmanagerv1.OutputStream_OUTPUT_STREAM_STDOUT); got != "before-crash\n" {
		t.Fatalf("output after crash: %q", got)
	}
	// Ids are never reused and new jobs run.
	if id2 := startJob(t, client, "victim", "/bin/true"); id2 == id {
		t.Fatal("id reused")
	}
}

func streamAll(t *testing.T, client interface {
	StreamOutput(context.Context, *connect.Request[jobmanagerv1.StreamOutputRequest]) (*connect.ServerStreamForClient[jobmanagerv1.StreamOutputResponse], error)
}, id string, which jobmanagerv1.OutputStream) string {
	t.Helper()
	stream, err := client.StreamOutput(context.Background(), connect.NewRequest(&jobmanagerv1.StreamOutputRequest{JobId: id, OutputStream: which}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	var out strings.Builder
	var offset int64
	for stream.Receive() {
		if stream.Msg().GetOffset() != offset {
			t.Fatalf("chunk at offset %d, want %d", stream.Msg().GetOffset(), offset)
		}
		out.Write(stream.Msg().GetOutput())
		offset += int64(len(stream.Msg().GetOutput()))
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// Each refused client gets no answer from the service.
func refused(t *testing.T, s *servertest.Server, cfg *tls.Config) error {
	t.Helper()
	_, err := servertest.ClientWith(s.Addr, cfg).List(context.Background(), connect.NewRequest(&jobmanagerv1.ListRequest{}))
	if err == nil {
		t.Fatal("the server answered")
	}
	return err
}

func otherCA(t *testing.T) *devcert.Authority {
	ca, err := devcert.NewAuthority("JobManager test CA") // the same name as the real one
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func pair(t *testing.T, ca *devcert.Authority, spec devcert.Spec) tls.Certificate {
	issued, err := ca.Issue(spec)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(issued.CertPEM, issued.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

var clientAuth = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}

func TestRefusedWithoutCertificate(t *testing.T) {
	s := servertest.Start(t, binDir, servertest.NewCerts(t))
	cfg := s.TLSConfig("client1")
	cfg.Certificates = nil
	refused(t, s, cfg)
	s.WaitForLog("certificate")
}

func TestRefusedCertificateFromAnotherCA(t *testing.T) {
	s := servertest.Start(t, binDir, servertest.NewCerts(t))
	cert := pair(t, otherCA(t), devcert.Spec{CommonName: "administrator", ExtKeyUsage: clientAuth})
	refused(t, s, servertest.ClientTLS(s.Certs.CA, cert))
}

func TestRefusedExpiredCertificate(t *testing.T) {
	s := servertest.Start(t, binDir, servertest.NewCerts(t))
	cert := pair(t, s.Certs.CA, devcert.Spec{CommonName: "client1", ExtKeyUsage: clientAuth,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	refused(t, s, servertest.ClientTLS(s.Certs.CA, cert))
}

func TestRefusedCertificateWithoutClientAuth(t *testing.T) {
	s := servertest.Start(t, binDir, servertest.NewCerts(t))
	cert := pair(t, s.Certs.CA, devcert.Spec{CommonName: "client1", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}})
	refused(t, s, servertest.ClientTLS(s.Certs.CA, cert))
}

func TestRefusedServersOwnCertificate(t *testing.T) {
	s := servertest.Start(t, binDir, servertest.NewCerts(t))
	cert, err := tls.LoadX509KeyPair(filepath.Join(s.Certs.Dir, "server.crt"), filepath.Join(s.Certs.Dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	refused(t, s, servertest.ClientTLS(s.Certs.CA, cert))
}

func TestRefusedTwoCommonNames(t *testing.T) {
	s := servertest.Start(t, binDir, servertest.NewCerts(t))
	cert := pair(t, s.Certs.CA, devcert.Spec{CommonName: "client1", ExtraCommonNames: []string{"administrator"}, ExtKeyUsage: clientAuth})
	err := refused(t, s, servertest.ClientTLS(s.Certs.CA, cert))
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("err = %v, want Unauthenticated", err)
	}
	s.WaitForLog("exactly one CommonName")
}

func TestRefusedTLS12AndOlder(t *testing.T) {
	s := servertest.Start(t, binDir, servertest.NewCerts(t))
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS11, tls.VersionTLS10} {
		cfg := s.TLSConfig("client1")
		cfg.MinVersion, cfg.MaxVersion = version, version
		conn, err := tls.Dial("tcp", s.Addr, cfg)
		if err == nil {
			conn.Close()
			t.Fatalf("TLS version %x accepted", version)
		}
	}
}

func TestAdministratorIsCaseSensitive(t *testing.T) {
	s := servertest.Start(t, binDir, servertest.NewCerts(t))
	id := startJob(t, s.Client("client1"), "mine", "/bin/true")
	cert := pair(t, s.Certs.CA, devcert.Spec{CommonName: "Administrator", ExtKeyUsage: clientAuth})
	_, err := servertest.ClientWith(s.Addr, servertest.ClientTLS(s.Certs.CA, cert)).Query(context.Background(), connect.NewRequest(&jobmanagerv1.QueryRequest{JobId: id}))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("'Administrator' querying client1's job: %v, want NotFound", err)
	}
}

func TestErrorsCarryCodesAndNoInternals(t *testing.T) {
	s := servertest.Start(t, binDir, servertest.NewCerts(t))
	client := s.Client("client1")
	ctx := context.Background()
	_, err := client.Start(ctx, connect.NewRequest(&jobmanagerv1.StartRequest{Name: "x", ProgramPath: "relative"}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("relative path: %v", err)
	}
	_, err = client.Start(ctx, connect.NewRequest(&jobmanagerv1.StartRequest{Name: "x", ProgramPath: "/bin/true", Limits: &jobmanagerv1.ResourceLimits{IoReadBps: 1 << 20}}))
	if err != nil && (strings.Contains(err.Error(), "/sys/") || strings.Contains(err.Error(), s.DataDir)) {
		t.Errorf("error leaks internals: %v", err)
	}
	stream, err := client.StreamOutput(ctx, connect.NewRequest(&jobmanagerv1.StreamOutputRequest{JobId: uuid.NewString()}))
	if err == nil {
		// Server-stream errors arrive with the first Receive.
		for stream.Receive() {
		}
		err = stream.Err()
	}
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("unspecified output stream: %v, want InvalidArgument", err)
	}
	big := strings.Repeat("a", 3<<20)
	_, err = client.Start(ctx, connect.NewRequest(&jobmanagerv1.StartRequest{Name: "big", ProgramPath: "/bin/true", Arguments: []string{big}}))
	if code := connect.CodeOf(err); code != connect.CodeResourceExhausted && code != connect.CodeInvalidArgument {
		t.Errorf("3 MiB request: %v, want ResourceExhausted", err)
	}
}

func TestGrpcurlWithTheUsersCertificate(t *testing.T) {
	s := servertest.Start(t, binDir, servertest.NewCerts(t))
	grpcurl := func(args ...string) string {
		t.Helper()
		full := append([]string{"tool", "grpcurl", "-cacert", filepath.Join(s.Certs.Dir, "ca.crt"),
			"-cert", filepath.Join(s.Certs.Dir, "client1.crt"), "-key", filepath.Join(s.Certs.Dir, "client1.key")}, args...)
		cmd := exec.Command("go", full...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("grpcurl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := grpcurl(s.Addr, "list"); !strings.Contains(out, "jobmanager.v1.JobManagerService") || !strings.Contains(out, "grpc.health.v1.Health") {
		t.Fatalf("list: %s", out)
	}
	if out := grpcurl(s.Addr, "describe", "jobmanager.v1.JobManagerService"); !strings.Contains(out, "rpc StreamOutput") {
		t.Fatalf("describe: %s", out)
	}
	out := grpcurl("-d", `{"name":"curl","program_path":"/bin/echo","arguments":["via","grpcurl"]}`, s.Addr, "jobmanager.v1.JobManagerService/Start")
	if !strings.Contains(out, `"name": "curl"`) {
		t.Fatalf("start: %s", out)
	}
	if out := grpcurl(s.Addr, "grpc.health.v1.Health/Check"); !strings.Contains(out, "SERVING") {
		t.Fatalf("health: %s", out)
	}
}

func TestJobsRunAsTheUnprivilegedJobUser(t *testing.T) {
	s := servertest.Start(t, binDir, servertest.NewCerts(t))
	client := s.Client("client1")
	id := startJob(t, client, "whoami", "/bin/sh", "-c", "id -u; echo $HOME; grep -E '^(CapEff|NoNewPrivs):' /proc/self/status")
	out := streamAll(t, client, id, jobmanagerv1.OutputStream_OUTPUT_STREAM_STDOUT)
	if out != "65534\n/nonexistent\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\n" {
		t.Fatalf("job identity:\n%s", out)
	}
	s.Stop()
	root := servertest.Start(t, binDir, servertest.NewCerts(t), "--job-user", "root")
	client = root.Client("client1")
	id = startJob(t, client, "root", "/usr/bin/id", "-u")
	if out := streamAll(t, client, id, jobmanagerv1.OutputStream_OUTPUT_STREAM_STDOUT); out != "0\n" {
		t.Fatalf("--job-user root: %q", out)
	}
}

func TestServerRefusesToStartWithoutCertificates(t *testing.T) {
	cmd := exec.Command(filepath.Join(binDir, "jobmanager"), "--listen", "127.0.0.1:0", "--certDir", t.TempDir(), "--data-dir", t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "server certificate") {
		t.Fatalf("err %v, output %s", err, out)
	}
}

func TestStalledHandshakeDoesNotHurtOthers(t *testing.T) {
	s := servertest.Start(t, binDir, servertest.NewCerts(t))
	var stalled []net.Conn
	for range 50 {
		conn, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		stalled = append(stalled, conn)
	}
	defer func() {
		for _, c := range stalled {
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.Client("client1").List(ctx, connect.NewRequest(&jobmanagerv1.ListRequest{})); err != nil {
		t.Fatalf("a good client was hurt by 50 stalled handshakes: %v", err)
	}
}

// TestTypeScriptClient runs the generated TypeScript client's tests
// (client/ts, node --test) against the real server.
func TestTypeScriptClient(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	tsc := filepath.Join(root, "node_modules", ".bin", "tsc")
	if _, err := os.Stat(tsc); err != nil {
		jobexectest.Unavailable(t, "node_modules missing: run `go tool task deps`")
	}
	s := servertest.Start(t, binDir, servertest.NewCerts(t))
	outDir := t.TempDir()
	build := exec.Command(tsc, "-p", "tsconfig.json", "--outDir", outDir)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}
	// ES modules resolve packages from the file's directory upwards, so the
	// compiled test needs node_modules above it.
	if err := os.Symlink(filepath.Join(root, "node_modules"), filepath.Join(outDir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outDir, "package.json"), []byte(`{"type":"module"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	node := exec.Command("node", "--test", filepath.Join(outDir, "client", "ts", "jobmanager.test.js"))
	node.Env = append(os.Environ(), "JOBMANAGER_ADDR="+s.Addr, "JOBMANAGER_CERT_DIR="+s.Certs.Dir)
	out, err := node.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	if err != nil {
		t.Fatalf("TypeScript client tests failed: %v", err)
	}
}
