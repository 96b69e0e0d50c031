package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	jobmanagerv1 "github.com/jobmanager/jobmanager/gen/go/jobmanager/v1"
	"github.com/jobmanager/jobmanager/server/servertest"
)

// BenchmarkStreamFinishedOutput streams the finished 1 GiB output of a job
// from the real server to 1 and to 4 clients at once, each on its own
// connection. MB/s counts the bytes all clients received; server-peak-MiB
// is the server process's peak resident memory (VmHWM) afterwards.
func BenchmarkStreamFinishedOutput(b *testing.B) {
	s := servertest.Start(b, binDir, servertest.NewCerts(b))
	const size = 1 << 30
	owner := s.Client("client1")
	started, err := owner.Start(context.Background(), connect.NewRequest(&jobmanagerv1.StartRequest{
		Name: "gigabyte", ProgramPath: "/usr/bin/head", Arguments: []string{"-c", strconv.Itoa(size), "/dev/zero"},
	}))
	if err != nil {
		b.Fatal(err)
	}
	id := started.Msg.GetJob().GetId()
	for {
		resp, err := owner.Query(context.Background(), connect.NewRequest(&jobmanagerv1.QueryRequest{JobId: id}))
		if err != nil {
			b.Fatal(err)
		}
		if !resp.Msg.GetStatus().GetIsRunning() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, readers := range []int{1, 4} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			clients := make([]interface {
				StreamOutput(context.Context, *connect.Request[jobmanagerv1.StreamOutputRequest]) (*connect.ServerStreamForClient[jobmanagerv1.StreamOutputResponse], error)
			}, readers)
			for i := range clients {
				clients[i] = s.Client("client1") // one connection each
			}
			b.SetBytes(int64(readers) * size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var wg sync.WaitGroup
				for _, c := range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						stream, err := c.StreamOutput(context.Background(), connect.NewRequest(&jobmanagerv1.StreamOutputRequest{JobId: id, OutputStream: jobmanagerv1.OutputStream_OUTPUT_STREAM_STDOUT}))
						if err != nil {
							b.Error(err)
							return
						}
						defer stream.Close()
						var n int64
						for stream.Receive() {
							n += int64(len(stream.Msg().GetOutput()))
						}
						if err := stream.Err(); err != nil || n != size {
							b.Errorf("received %d bytes, %v", n, err)
						}
					}()
				}
				wg.Wait()
			}
			b.StopTimer()
			b.ReportMetric(float64(peakRSS(b, s.Pid()))/(1<<20), "server-peak-MiB")
		})
	}
}

// peakRSS reads a process's peak resident set size in bytes.
func peakRSS(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
