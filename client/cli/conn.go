package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/jobmanager/jobmanager/gen/go/jobmanager/v1/jobmanagerv1connect"
)

// dialTimeout bounds connecting and the TLS handshake, so that an
// unreachable server fails fast.
const dialTimeout = 5 * time.Second

// client returns a gRPC client of the server at opts.hostPort, with the
// user's certificate, trusting only the CA in opts.certDir, over TLS 1.3.
func (o *options) client() (jobmanagerv1connect.JobManagerServiceClient, error) {
	host, port, err := net.SplitHostPort(o.hostPort)
	if err != nil {
		return nil, fmt.Errorf("invalid --hostPort %q: want HOST:PORT", o.hostPort)
	}
	if host == "" {
		host = "localhost"
	}
	tlsConfig, err := o.tlsConfig(host)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: dialTimeout}
	protocols := new(http.Protocols)
	protocols.SetHTTP2(true)
	transport := &http.Transport{
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tlsConfig,
		TLSHandshakeTimeout: dialTimeout,
		Protocols:           protocols,
		HTTP2:               HTTP2Config(),
	}
	address := net.JoinHostPort(host, port)
	return jobmanagerv1connect.NewJobManagerServiceClient(
		&http.Client{Transport: transport},
		"https://"+address,
		connect.WithGRPC(),
	), nil
}

// HTTP2Config is the HTTP/2 tuning of jobctl's connections, exported so
// that tests and benchmarks read output the way jobctl does. The server
// sends frames up to the size the client accepts: at the default 16 KiB a
// stream costs it a frame write and a goroutine hand-off per 16 KiB, and
// one stream ran at 460-530 MB/s on loopback; with 1 MiB frames and a
// 16 MiB stream window (32 MiB per connection) it ran at 640-770 MB/s. The
// window also bounds what jobctl holds when its stdout is slow.
func HTTP2Config() *http.HTTP2Config {
	return &http.HTTP2Config{
		MaxReadFrameSize:              1 << 20,
		MaxReceiveBufferPerStream:     16 << 20,
		MaxReceiveBufferPerConnection: 32 << 20,
	}
}

func (o *options) tlsConfig(serverName string) (*tls.Config, error) {
	if strings.ContainsAny(o.userID, `/\`) || o.userID == "" || strings.HasPrefix(o.userID, ".") {
		return nil, fmt.Errorf("invalid user %q", o.userID)
	}
	caPEM, err := os.ReadFile(filepath.Join(o.certDir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("read the CA certificate: %w (set --certDir, or make development certificates with `go tool task certs`)", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s holds no PEM certificate", filepath.Join(o.certDir, "ca.crt"))
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(o.certDir, o.userID+".crt"), filepath.Join(o.certDir, o.userID+".key"))
	if err != nil {
		return nil, fmt.Errorf("load the credentials of user %q: %w", o.userID, err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		RootCAs:      roots,
		Certificates: []tls.Certificate{cert},
		ServerName:   serverName,
		NextProtos:   []string{"h2"},
	}, nil
}

// describe turns an RPC error into one line for the user.
func (o *options) describe(err error) error {
	var connectErr *connect.Error
	if !errors.As(err, &connectErr) {
		return err
	}
	switch connectErr.Code() {
	case connect.CodeUnavailable, connect.CodeUnknown:
		var netErr net.Error
		var opErr *net.OpError
		if errors.As(err, &opErr) || errors.As(err, &netErr) || strings.Contains(connectErr.Message(), "dial") {
			return fmt.Errorf("cannot reach the JobManager server at %s: %s", o.hostPort, rootCause(err))
		}
		if strings.Contains(connectErr.Message(), "tls:") || strings.Contains(connectErr.Message(), "x509:") {
			return fmt.Errorf("TLS with the server at %s failed: %s", o.hostPort, connectErr.Message())
		}
	case connect.CodeUnauthenticated:
		return fmt.Errorf("the server did not accept the credentials of user %q: %s", o.userID, connectErr.Message())
	}
	return fmt.Errorf("%s (%s)", connectErr.Message(), connectErr.Code())
}

// rootCause is the innermost error's text: "connection refused" rather
// than the whole chain.
func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// interrupted converts a cancellation by Ctrl-C into a silent exit.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return &ExitError{Code: ExitInterrupted}
	}
	return err
}
