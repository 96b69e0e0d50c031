//go:build perfreport

package main

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"

	jobmanagerv1 "github.com/jobmanager/jobmanager/gen/go/jobmanager/v1"
	"github.com/jobmanager/jobmanager/gen/go/jobmanager/v1/jobmanagerv1connect"
)

const idleStreams = 1000

func measureMemory(e *environment, _ int) (section, error) {
	s := section{title: "Server memory", header: []string{"what", "value"}}
	if err := e.startServer(""); err != nil {
		return s, err
	}
	defer e.stopServer()
	client, err := e.client("client1")
	if err != nil {
		return s, err
	}
	ctx := context.Background()
	started, err := client.Start(ctx, connect.NewRequest(&jobmanagerv1.StartRequest{Name: "silent", ProgramPath: "/bin/sleep", Arguments: []string{"600"}}))
	if err != nil {
		return s, err
	}
	id := started.Msg.GetJob().GetId()
	// 256 streams fit on one connection; use enough connections.
	var clients []jobmanagerv1connect.JobManagerServiceClient
	for range idleStreams/200 + 1 {
		c, err := e.client("client1")
		if err != nil {
			return s, err
		}
		clients = append(clients, c)
	}
	// Open one stream per connection first, so that the baseline includes
	// the connections themselves.
	streamCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	open := func(c jobmanagerv1connect.JobManagerServiceClient) error {
		stream, err := c.StreamOutput(streamCtx, connect.NewRequest(&jobmanagerv1.StreamOutputRequest{JobId: id, OutputStream: jobmanagerv1.OutputStream_OUTPUT_STREAM_STDOUT}))
		if err != nil {
			return err
		}
		go func() {
			for stream.Receive() {
			}
		}()
		return nil
	}
	for _, c := range clients {
		if err := open(c); err != nil {
			return s, err
		}
	}
	time.Sleep(500 * time.Millisecond)
	before, _ := e.serverRSS()
	for i := range idleStreams {
		if err := open(clients[i%len(clients)]); err != nil {
			return s, err
		}
	}
	time.Sleep(time.Second)
	after, peak := e.serverRSS()
	s.rows = append(s.rows,
		[]string{"RSS with one running job and a stream on each of 6 connections", fmt.Sprintf("%.1f MiB", float64(before)/(1<<20))},
		[]string{fmt.Sprintf("RSS with %d more idle streams", idleStreams), fmt.Sprintf("%.1f MiB", float64(after)/(1<<20))},
		[]string{"per idle stream (server side)", fmt.Sprintf("%.1f KiB", float64(after-before)/idleStreams/1024)},
		[]string{"peak RSS of this server", fmt.Sprintf("%.1f MiB", float64(peak)/(1<<20))},
	)
	cancel()
	_, err = client.Stop(ctx, connect.NewRequest(&jobmanagerv1.StopRequest{JobId: id}))
	return s, err
}
