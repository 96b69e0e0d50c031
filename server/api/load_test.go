package api

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	jobmanagerv1 "github.com/jobmanager/jobmanager/gen/go/jobmanager/v1"
	"github.com/jobmanager/jobmanager/gen/go/jobmanager/v1/jobmanagerv1connect"
	"github.com/jobmanager/jobmanager/server/servertest"
)

// LoadDurationEnv sets how long TestLoad runs (a Go duration); `go tool
// task test-load`, which CI runs, sets one minute. Without it the test runs
// for a few seconds as part of every test run.
const loadDurationEnv = "JOBMANAGER_LOAD_DURATION"

const loadClients = 64

// TestLoad drives the whole server stack with 64 concurrent clients, each
// on its own connection, mixing Start, StreamOutput, Query, List and Stop,
// and checks that no request fails and that goroutines and file
// descriptors return to their baseline afterwards, and the heap to its
// baseline plus the records of the jobs started (the engine keeps every
// job; 2 to 3.5 KiB each in the heap after a GC, from run to run).
func TestLoad(t *testing.T) {
	duration := 5 * time.Second
	if v := os.Getenv(loadDurationEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s: %v", loadDurationEnv, err)
		}
		duration = d
	}
	p := newInProcess(t)
	// Warm up, then take the baseline with the server idle.
	warm := p.client(t, "client1")
	if _, err := warm.List(context.Background(), connect.NewRequest(&jobmanagerv1.ListRequest{})); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	baseGoroutines, baseFDs, baseHeap := runtime.NumGoroutine(), openFDs(t), heapInUse()

	latencies := map[string]*durationsLocked{}
	for _, op := range []string{"Start", "StreamOutput", "Query", "List", "Stop"} {
		latencies[op] = &durationsLocked{}
	}
	timed := func(op string, f func() error) error {
		start := time.Now()
		err := f()
		latencies[op].add(time.Since(start))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		return nil
	}
	var transports []*http.Transport
	errs := make(chan error, loadClients)
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for i := range loadClients {
		transport := servertest.NewTransport(p.certs.ClientTLS(t, "client1"))
		transports = append(transports, transport)
		client := jobmanagerv1connect.NewJobManagerServiceClient(&http.Client{Transport: transport}, "https://"+p.addr, connect.WithGRPC())
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; time.Now().Before(deadline); n++ {
				if err := loadIteration(client, n%8 == i%8, timed); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("unexpected error under load: %v", err)
	}
	total := 0
	for op, d := range latencies {
		total += len(d.values)
		t.Logf("%-12s %6d calls  p50 %8v  p99 %8v", op, len(d.values), d.quantile(0.5).Round(time.Microsecond), d.quantile(0.99).Round(time.Microsecond))
	}
	t.Logf("%d calls in %v from %d clients", total, duration, loadClients)
	for _, tr := range transports {
		tr.CloseIdleConnections()
	}
	// A leaked stream alone would hold a 512 KiB chunk; 6 KiB a job is
	// well above what a job's record takes.
	started := uint64(len(latencies["Start"].values))
	allowedHeap := baseHeap + 8<<20 + started*6<<10
	deadlineBack := time.Now().Add(15 * time.Second)
	for {
		runtime.GC()
		g, f, h := runtime.NumGoroutine(), openFDs(t), heapInUse()
		report := fmt.Sprintf("%d goroutines (baseline %d), %d fds (baseline %d), heap %d KiB (baseline %d KiB, allowed %d KiB for %d jobs kept)",
			g, baseGoroutines, f, baseFDs, h>>10, baseHeap>>10, allowedHeap>>10, started)
		if g <= baseGoroutines+2 && f <= baseFDs+2 && h <= allowedHeap {
			t.Logf("after the load: %s", report)
			return
		}
		if time.Now().After(deadlineBack) {
			t.Fatalf("not back to baseline: %s", report)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// loadIteration starts a short job, streams it to its end, queries it and
// lists; with stop, it also starts a long job and stops it.
func loadIteration(c jobmanagerv1connect.JobManagerServiceClient, stop bool, timed func(string, func() error) error) error {
	ctx := context.Background()
	var id string
	if err := timed("Start", func() error {
		resp, err := c.Start(ctx, connect.NewRequest(&jobmanagerv1.StartRequest{Name: uuid.NewString(), ProgramPath: "/bin/echo", Arguments: []string{"load"}}))
		if err == nil {
			id = resp.Msg.GetJob().GetId()
		}
		return err
	}); err != nil {
		return err
	}
	if err := timed("StreamOutput", func() error {
		stream, err := c.StreamOutput(ctx, connect.NewRequest(&jobmanagerv1.StreamOutputRequest{JobId: id, OutputStream: jobmanagerv1.OutputStream_OUTPUT_STREAM_STDOUT}))
		if err != nil {
			return err
		}
		defer stream.Close()
		var got []byte
		for stream.Receive() {
			got = append(got, stream.Msg().GetOutput()...)
		}
		if err := stream.Err(); err != nil {
			return err
		}
		if string(got) != "load\n" {
			return fmt.Errorf("output %q", got)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := timed("Query", func() error {
		resp, err := c.Query(ctx, connect.NewRequest(&jobmanagerv1.QueryRequest{JobId: id}))
		if err == nil && resp.Msg.GetStatus().GetState() != jobmanagerv1.JobState_JOB_STATE_EXITED {
			return fmt.Errorf("state %v after the stream ended", resp.Msg.GetStatus().GetState())
		}
		return err
	}); err != nil {
		return err
	}
	if err := timed("List", func() error {
		_, err := c.List(ctx, connect.NewRequest(&jobmanagerv1.ListRequest{PageSize: 20}))
		return err
	}); err != nil {
		return err
	}
	if !stop {
		return nil
	}
	resp, err := c.Start(ctx, connect.NewRequest(&jobmanagerv1.StartRequest{Name: uuid.NewString(), ProgramPath: "/bin/sleep", Arguments: []string{"60"}}))
	if err != nil {
		return fmt.Errorf("Start: %w", err)
	}
	return timed("Stop", func() error {
		_, err := c.Stop(ctx, connect.NewRequest(&jobmanagerv1.StopRequest{JobId: resp.Msg.GetJob().GetId()}))
		return err
	})
}

type durationsLocked struct {
	mu     sync.Mutex
	values []time.Duration
}

func (d *durationsLocked) add(v time.Duration) {
	d.mu.Lock()
	d.values = append(d.values, v)
	d.mu.Unlock()
}

func (d *durationsLocked) quantile(q float64) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.values) == 0 {
		return 0
	}
	sorted := slices.Clone(d.values)
	slices.Sort(sorted)
	return sorted[int(q*float64(len(sorted)-1))]
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
