package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/jobmanager/jobmanager/cgroupfs"
	jobmanagerv1 "github.com/jobmanager/jobmanager/gen/go/jobmanager/v1"
	"github.com/jobmanager/jobmanager/gen/go/jobmanager/v1/jobmanagerv1connect"
	"github.com/jobmanager/jobmanager/jobexec/jobexectest"
	"github.com/jobmanager/jobmanager/server/devcert"
	"github.com/jobmanager/jobmanager/server/job"
	"github.com/jobmanager/jobmanager/server/servertest"
)

var helperPath string

func TestMain(m *testing.M) { jobexectest.RunWithHelper(m, &helperPath) }

// inProcess is the real server stack (engine, handlers, TLS, HTTP/2) in
// the test process, so that its goroutines and descriptors can be counted.
type inProcess struct {
	addr  string
	certs *servertest.Certs
	jobs  *job.Manager
}

func newInProcess(t testing.TB) *inProcess {
	t.Helper()
	jobexectest.RequireRoot(t)
	certs := servertest.NewCerts(t)
	parent := "jobmanager-test-" + uuid.NewString()[:8]
	cgroups, err := cgroupfs.New(cgroupfs.Options{Parent: parent})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := job.Open(job.Options{DataDir: t.TempDir(), Helper: helperPath, Cgroups: cgroups, Limits: job.DefaultLimitPolicy(2, 8<<30)})
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig, err := ServerTLSConfig(certs.Dir)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	srv := NewHTTPServer(Handler(jobs, nil, log), tlsConfig, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = jobs.Shutdown(ctx)
		_ = srv.Shutdown(ctx)
		_ = cgroups.RemoveParent()
	})
	return &inProcess{addr: ln.Addr().String(), certs: certs, jobs: jobs}
}

func (p *inProcess) client(t testing.TB, user string) jobmanagerv1connect.JobManagerServiceClient {
	return servertest.ClientWith(p.addr, p.certs.ClientTLS(t, user))
}

// rpcCheck calls one RPC as caller on a job of client1 and reports the
// error code (the stream's, for streaming RPCs).
type rpcCheck func(ctx context.Context, c jobmanagerv1connect.JobManagerServiceClient, jobID string) (connect.Code, error)

func code(err error) (connect.Code, error) {
	if err == nil {
		return 0, nil
	}
	return connect.CodeOf(err), err
}

// checks has one entry per RPC of the service; the matrix test fails when
// the descriptor has an RPC without one.
var checks = map[string]rpcCheck{
	"Start": func(ctx context.Context, c jobmanagerv1connect.JobManagerServiceClient, _ string) (connect.Code, error) {
		// Starting creates the caller's own job: allowed for everyone.
		_, err := c.Start(ctx, connect.NewRequest(&jobmanagerv1.StartRequest{Name: uuid.NewString(), ProgramPath: "/bin/true"}))
		return code(err)
	},
	"Stop": func(ctx context.Context, c jobmanagerv1connect.JobManagerServiceClient, id string) (connect.Code, error) {
		_, err := c.Stop(ctx, connect.NewRequest(&jobmanagerv1.StopRequest{JobId: id}))
		return code(err)
	},
	"Query": func(ctx context.Context, c jobmanagerv1connect.JobManagerServiceClient, id string) (connect.Code, error) {
		_, err := c.Query(ctx, connect.NewRequest(&jobmanagerv1.QueryRequest{JobId: id}))
		return code(err)
	},
	"List": func(ctx context.Context, c jobmanagerv1connect.JobManagerServiceClient, id string) (connect.Code, error) {
		resp, err := c.List(ctx, connect.NewRequest(&jobmanagerv1.ListRequest{}))
		if err != nil {
			return code(err)
		}
		for _, s := range resp.Msg.GetJobs() {
			if s.GetJob().GetId() == id {
				return 0, nil
			}
		}
		return connect.CodeNotFound, nil // the job is not visible
	},
	"StreamOutput": func(ctx context.Context, c jobmanagerv1connect.JobManagerServiceClient, id string) (connect.Code, error) {
		stream, err := c.StreamOutput(ctx, connect.NewRequest(&jobmanagerv1.StreamOutputRequest{JobId: id, OutputStream: jobmanagerv1.OutputStream_OUTPUT_STREAM_STDOUT}))
		if err != nil {
			return code(err)
		}
		defer stream.Close()
		for stream.Receive() {
		}
		return code(stream.Err())
	},
}

func TestAuthorizationMatrixCoversEveryRPC(t *testing.T) {
	p := newInProcess(t)
	ctx := context.Background()
	owner := p.client(t, "client1")
	service := jobmanagerv1.File_jobmanager_v1_jobmanager_proto.Services().ByName("JobManagerService")
	methods := service.Methods()
	for i := 0; i < methods.Len(); i++ {
		method := methods.Get(i)
		t.Run(string(method.Name()), func(t *testing.T) {
			check, ok := checks[string(method.Name())]
			if !ok {
				t.Fatalf("RPC %s has no authorization check: add one to checks", method.Name())
			}
			// A job of client1 that has ended, so that Stop and
			// StreamOutput return at once.
			started, err := owner.Start(ctx, connect.NewRequest(&jobmanagerv1.StartRequest{Name: uuid.NewString(), ProgramPath: "/bin/echo", Arguments: []string{"hi"}}))
			if err != nil {
				t.Fatal(err)
			}
			id := started.Msg.GetJob().GetId()
			waitEnded(t, owner, id)
			want := map[string]connect.Code{"client1": 0, "administrator": 0, "client2": connect.CodeNotFound}
			if method.Name() == "Start" {
				want["client2"] = 0
			}
			for user, wantCode := range want {
				got, err := check(ctx, p.client(t, user), id)
				if got != wantCode {
					t.Errorf("%s as %s: code %v (%v), want %v", method.Name(), user, got, err, wantCode)
				}
			}
			if method.IsStreamingServer() != (method.Name() == "StreamOutput") {
				t.Errorf("unexpected streaming shape for %s", method.Name())
			}
		})
	}
}

func waitEnded(t testing.TB, c jobmanagerv1connect.JobManagerServiceClient, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Query(context.Background(), connect.NewRequest(&jobmanagerv1.QueryRequest{JobId: id}))
		if err != nil {
			t.Fatal(err)
		}
		if !resp.Msg.GetStatus().GetIsRunning() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("job did not end")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestThousandDroppedStreamsLeaveNothingBehind(t *testing.T) {
	p := newInProcess(t)
	client := p.client(t, "client1")
	ctx := context.Background()
	started, err := client.Start(ctx, connect.NewRequest(&jobmanagerv1.StartRequest{Name: "forever", ProgramPath: "/bin/sh", Arguments: []string{"-c", "echo hello; exec sleep 600"}}))
	if err != nil {
		t.Fatal(err)
	}
	id := started.Msg.GetJob().GetId()
	// Warm up the connection and the server's goroutines.
	dropStream(t, client, id)
	time.Sleep(100 * time.Millisecond)
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)
	for range 1000 {
		dropStream(t, client, id)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, f := runtime.NumGoroutine(), openFDs(t)
		if g <= goroutines+2 && f <= fds+2 {
			t.Logf("after 1000 dropped streams: %d goroutines (baseline %d), %d fds (baseline %d)", g, goroutines, f, fds)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 1000 dropped streams: %d goroutines (baseline %d), %d fds (baseline %d)", g, goroutines, f, fds)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dropStream opens a stream of a live job, reads the first chunk and
// cancels.
func dropStream(t *testing.T, client jobmanagerv1connect.JobManagerServiceClient, id string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := client.StreamOutput(ctx, connect.NewRequest(&jobmanagerv1.StreamOutputRequest{JobId: id, OutputStream: jobmanagerv1.OutputStream_OUTPUT_STREAM_STDOUT}))
	if err != nil {
		t.Fatal(err)
	}
	if !stream.Receive() {
		t.Fatalf("no first chunk: %v", stream.Err())
	}
	cancel()
	stream.Close()
}

func openFDs(t testing.TB) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func TestIdentify(t *testing.T) {
	ca, err := devcert.NewAuthority("test")
	if err != nil {
		t.Fatal(err)
	}
	clientAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	tests := []struct {
		name string
		spec devcert.Spec
		want string // caller, or the error's text
		ok   bool
	}{
		{"one CN", devcert.Spec{CommonName: "client1", ExtKeyUsage: clientAuth}, "client1", true},
		{"case kept", devcert.Spec{CommonName: "Administrator", ExtKeyUsage: clientAuth}, "Administrator", true},
		{"two CNs", devcert.Spec{CommonName: "client1", ExtraCommonNames: []string{"administrator"}, ExtKeyUsage: clientAuth}, "exactly one CommonName", false},
		{"no CN", devcert.Spec{ExtKeyUsage: clientAuth}, "exactly one CommonName", false},
		{"server usage", devcert.Spec{CommonName: "client1", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, "clientAuth", false},
		{"control character", devcert.Spec{CommonName: "bad\nname", ExtKeyUsage: clientAuth}, "not a usable", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issued, err := ca.Issue(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			pair, err := tls.X509KeyPair(issued.CertPEM, issued.KeyPEM)
			if err != nil {
				t.Fatal(err)
			}
			state := &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{pair.Leaf, ca.Cert}}}
			caller, err := Identify(state)
			if tt.ok && (err != nil || string(caller) != tt.want) {
				t.Fatalf("Identify = %q, %v; want %q", caller, err, tt.want)
			}
			if !tt.ok && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Identify = %q, %v; want an error about %q", caller, err, tt.want)
			}
		})
	}
	if _, err := Identify(nil); err == nil {
		t.Fatal("no TLS state accepted")
	}
	if _, err := Identify(&tls.ConnectionState{}); err == nil {
		t.Fatal("no verified chain accepted")
	}
}

// TestIdleStreamsHoldNoBuffers opens 200 streams of a silent job and
// checks that the server side of each costs a few KiB of heap, not a
// chunk buffer.
func TestIdleStreamsHoldNoBuffers(t *testing.T) {
	p := newInProcess(t)
	client := p.client(t, "client1")
	started, err := client.Start(context.Background(), connect.NewRequest(&jobmanagerv1.StartRequest{Name: "silent", ProgramPath: "/bin/sleep", Arguments: []string{"600"}}))
	if err != nil {
		t.Fatal(err)
	}
	id := started.Msg.GetJob().GetId()
	const streams = 200
	var clients []jobmanagerv1connect.JobManagerServiceClient
	for range streams/100 + 1 {
		clients = append(clients, p.client(t, "client1"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func(c jobmanagerv1connect.JobManagerServiceClient) {
		stream, err := c.StreamOutput(ctx, connect.NewRequest(&jobmanagerv1.StreamOutputRequest{JobId: id, OutputStream: jobmanagerv1.OutputStream_OUTPUT_STREAM_STDOUT}))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for stream.Receive() {
			}
		}()
	}
	for _, c := range clients {
		open(c)
	}
	time.Sleep(200 * time.Millisecond)
	runtime.GC()
	before := heapInUse()
	for i := range streams {
		open(clients[i%len(clients)])
	}
	time.Sleep(500 * time.Millisecond)
	runtime.GC()
	perStream := (int64(heapInUse()) - int64(before)) / streams
	t.Logf("heap per idle stream, client and server sides together: %d bytes", perStream)
	if perStream > 64<<10 {
		t.Fatalf("%d bytes of heap per idle stream: a chunk buffer is held", perStream)
	}
}
