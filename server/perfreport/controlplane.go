//go:build perfreport

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	jobmanagerv1 "github.com/jobmanager/jobmanager/gen/go/jobmanager/v1"
	"github.com/jobmanager/jobmanager/gen/go/jobmanager/v1/jobmanagerv1connect"
	"github.com/jobmanager/jobmanager/server/job"
)

const (
	storedJobs      = 10000
	concurrentUsers = 32
	phaseDuration   = 3 * time.Second
)

func measureControlPlane(e *environment, _ int) (section, error) {
	s := section{
		title:  fmt.Sprintf("Control plane with %d jobs in the store, %d concurrent clients (a connection each)", storedJobs, concurrentUsers),
		header: []string{"RPC", "rate", "p50", "p99"},
	}
	dataDir := filepath.Join(e.tmp, "data-store")
	ids, err := writeRecords(dataDir, storedJobs)
	if err != nil {
		return s, err
	}
	if err := e.startServer(dataDir); err != nil {
		return s, err
	}
	defer e.stopServer()
	clients := make([]jobmanagerv1connect.JobManagerServiceClient, concurrentUsers)
	for i := range clients {
		if clients[i], err = e.client("client1"); err != nil {
			return s, err
		}
	}
	phases := []struct {
		name  string
		paced bool
		call  func(context.Context, jobmanagerv1connect.JobManagerServiceClient) error
	}{
		{"Query", true, func(ctx context.Context, c jobmanagerv1connect.JobManagerServiceClient) error {
			_, err := c.Query(ctx, connect.NewRequest(&jobmanagerv1.QueryRequest{JobId: ids[rand.IntN(len(ids))]}))
			return err
		}},
		{"List (first page of 100)", true, func(ctx context.Context, c jobmanagerv1connect.JobManagerServiceClient) error {
			_, err := c.List(ctx, connect.NewRequest(&jobmanagerv1.ListRequest{PageSize: 100}))
			return err
		}},
		{"Start (/bin/true, isolated and limited)", false, func(ctx context.Context, c jobmanagerv1connect.JobManagerServiceClient) error {
			_, err := c.Start(ctx, connect.NewRequest(&jobmanagerv1.StartRequest{Name: uuid.NewString(), ProgramPath: "/bin/true"}))
			return err
		}},
	}
	row := func(name string, d durations, elapsed time.Duration) {
		s.rows = append(s.rows, []string{name, fmt.Sprintf("%.0f/s", float64(len(d))/elapsed.Seconds()), ms(d.median()), ms(d.quantile(0.99))})
	}
	for _, phase := range phases {
		d, elapsed, err := hammer(clients, phase.call)
		if err != nil {
			return s, fmt.Errorf("%s: %w", phase.name, err)
		}
		row(phase.name+", saturated", d, elapsed)
		if !phase.paced {
			continue
		}
		rate := float64(len(d)) / elapsed.Seconds()
		if d, elapsed, err = pace(clients, rate/2, phase.call); err != nil {
			return s, fmt.Errorf("%s: %w", phase.name, err)
		}
		row(phase.name+", at half that rate", d, elapsed)
		if d, elapsed, err = hammer(clients[:1], phase.call); err != nil {
			return s, fmt.Errorf("%s: %w", phase.name, err)
		}
		row(phase.name+", one client alone", d, elapsed)
	}
	s.notes = append(s.notes, "\"Saturated\": every client calls again as soon as its call returns, so latency is mostly "+
		"waiting for the two CPUs, shared by the server and the 32 clients. \"At half that rate\": every client calls on a fixed "+
		"schedule, for half the saturated rate in all. \"One client alone\": one client calls in a loop, the other 31 wait: "+
		"the latency of a call with the store full and the CPUs free.")
	return s, nil
}

// hammer runs call from every client in a loop for phaseDuration.
func hammer(clients []jobmanagerv1connect.JobManagerServiceClient, call func(context.Context, jobmanagerv1connect.JobManagerServiceClient) error) (durations, time.Duration, error) {
	return callEvery(clients, 0, call)
}

// pace has the clients call together rate times a second for
// phaseDuration.
func pace(clients []jobmanagerv1connect.JobManagerServiceClient, rate float64, call func(context.Context, jobmanagerv1connect.JobManagerServiceClient) error) (durations, time.Duration, error) {
	return callEvery(clients, time.Duration(float64(len(clients))/rate*float64(time.Second)), call)
}

// callEvery has every client call every interval for phaseDuration, the
// clients' schedules spread over the interval; a call due while the last
// one runs starts as soon as it returns (so interval 0 calls in a loop). A
// call's latency counts from when it is sent, not from its scheduled time:
// Go's timers wake up to a millisecond late, which is the harness's delay,
// not the server's.
func callEvery(clients []jobmanagerv1connect.JobManagerServiceClient, interval time.Duration, call func(context.Context, jobmanagerv1connect.JobManagerServiceClient) error) (durations, time.Duration, error) {
	start := time.Now()
	return runClients(clients, func(i int, c jobmanagerv1connect.JobManagerServiceClient, deadline time.Time) (durations, error) {
		var mine durations
		next := start.Add(interval * time.Duration(i) / time.Duration(len(clients)))
		for ; time.Now().Before(deadline); next = next.Add(interval) {
			time.Sleep(time.Until(next))
			t0 := time.Now()
			err := call(context.Background(), c)
			mine = append(mine, time.Since(t0))
			if err != nil {
				return mine, err
			}
		}
		return mine, nil
	})
}

// runClients runs loop on every client at once until phaseDuration has passed,
// and gathers their timings.
func runClients(clients []jobmanagerv1connect.JobManagerServiceClient, loop func(int, jobmanagerv1connect.JobManagerServiceClient, time.Time) (durations, error)) (durations, time.Duration, error) {
	var mu sync.Mutex
	var all durations
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(phaseDuration)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine, err := loop(i, c, deadline)
			mu.Lock()
			defer mu.Unlock()
			all = append(all, mine...)
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}()
	}
	wg.Wait()
	return all, time.Since(start), firstErr
}

// writeRecords fills a data directory with n ended jobs, a quarter of them
// client1's, as a server that ran them would have left it; it returns
// client1's ids.
func writeRecords(dir string, n int) ([]string, error) {
	owners := []string{"client1", "client2", "client3", "client4"}
	var ids []string
	start := time.Now().Add(-time.Hour)
	for i := range n {
		id := uuid.NewString()
		jobDir := filepath.Join(dir, "jobs", id)
		if err := os.MkdirAll(jobDir, 0o700); err != nil {
			return nil, err
		}
		status := job.Status{
			ID: id, Name: fmt.Sprintf("stored-%d", i), Owner: owners[i%len(owners)], ProgramPath: "/bin/true",
			State: job.StateExited, StartTime: start.Add(time.Duration(i) * time.Millisecond), EndTime: start.Add(time.Duration(i)*time.Millisecond + time.Millisecond),
			Limits: job.Limits{CPUs: 1, MemoryBytes: 512 << 20, Pids: 1024},
		}
		data, err := json.Marshal(status)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(jobDir, "job.json"), data, 0o600); err != nil {
			return nil, err
		}
		for _, stream := range []string{"stdout", "stderr"} {
			if err := os.WriteFile(filepath.Join(jobDir, stream), nil, 0o600); err != nil {
				return nil, err
			}
		}
		if status.Owner == "client1" {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
