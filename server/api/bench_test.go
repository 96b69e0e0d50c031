package api

import (
	"context"
	"testing"

	"connectrpc.com/connect"

	jobmanagerv1 "github.com/jobmanager/jobmanager/gen/go/jobmanager/v1"
	"github.com/jobmanager/jobmanager/gen/go/jobmanager/v1/jobmanagerv1connect"
)

// BenchmarkQueryParallel measures Query through the whole stack (TLS,
// HTTP/2, Connect, identity, engine) from 32 concurrent clients, each on
// its own connection, as the control-plane comparison does.
func BenchmarkQueryParallel(b *testing.B) {
	p := newInProcess(b)
	owner := p.client(b, "client1")
	started, err := owner.Start(context.Background(), connect.NewRequest(&jobmanagerv1.StartRequest{Name: "q", ProgramPath: "/bin/true"}))
	if err != nil {
		b.Fatal(err)
	}
	id := started.Msg.GetJob().GetId()
	clients := make(chan jobmanagerv1connect.JobManagerServiceClient, 32)
	for range 32 {
		clients <- p.client(b, "client1")
	}
	b.SetParallelism(16) // 2 CPUs × 16 = 32 goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := <-clients
		req := connect.NewRequest(&jobmanagerv1.QueryRequest{JobId: id})
		for pb.Next() {
			if _, err := c.Query(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
