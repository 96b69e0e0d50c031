package api

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	"github.com/jobmanager/jobmanager/gen/go/jobmanager/v1/jobmanagerv1connect"
	"github.com/jobmanager/jobmanager/server/job"
)

// Transport limits of the server.
const (
	// MaxRequestBytes bounds a request message: the largest valid Start
	// request (1 MiB of arguments) with room for its framing.
	MaxRequestBytes = 2 << 20
	// MaxConcurrentStreams bounds the RPCs in flight on one connection.
	MaxConcurrentStreams = 256
	// MaxHeaderBytes bounds request headers.
	MaxHeaderBytes = 64 << 10
	// ReadHeaderTimeout bounds the TLS handshake and the request headers,
	// so that a client that stalls them does not hold a connection.
	ReadHeaderTimeout = 10 * time.Second
	// IdleTimeout closes connections without requests.
	IdleTimeout = 2 * time.Minute
)

// Handler returns the HTTP handler serving the job service, gRPC
// reflection (v1 and v1alpha) and gRPC health, behind the identity
// middleware. health may be nil.
func Handler(jobs *job.Manager, health *grpchealth.StaticChecker, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	path, handler := jobmanagerv1connect.NewJobManagerServiceHandler(
		NewService(jobs, log),
		connect.WithInterceptors(authenticate{log: log}),
		connect.WithReadMaxBytes(MaxRequestBytes),
		// Job output is streamed as it is: compressing it costs more CPU
		// than it saves on the networks such a service runs on, and it
		// would halve streaming throughput. Compressed requests are still
		// accepted.
		connect.WithCompressMinBytes(math.MaxInt32),
	)
	mux.Handle(path, handler)
	reflector := grpcreflect.NewStaticReflector(jobmanagerv1connect.JobManagerServiceName, grpchealth.HealthV1ServiceName)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	if health != nil {
		mux.Handle(grpchealth.NewHandler(health))
	}
	return WithIdentity(mux)
}

// NewHTTPServer returns an HTTP/2 server for handler with the transport
// limits above and tlsConfig. Serve it with ServeTLS(listener, "", "").
func NewHTTPServer(handler http.Handler, tlsConfig *tls.Config, log *slog.Logger) *http.Server {
	protocols := new(http.Protocols)
	protocols.SetHTTP2(true)
	return &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConfig,
		Protocols:         protocols,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          MaxConcurrentStreams,
			MaxReceiveBufferPerStream:     1 << 20,
			MaxReceiveBufferPerConnection: 4 << 20,
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// ServerTLSConfig loads certDir/server.crt, server.key and ca.crt and
// returns the server's TLS configuration: TLS 1.3 only, and a client
// certificate verified against that CA (and no other) required.
func ServerTLSConfig(certDir string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(certDir, "server.crt"), filepath.Join(certDir, "server.key"))
	if err != nil {
		return nil, fmt.Errorf("load server certificate: %w", err)
	}
	pool, err := LoadCAPool(filepath.Join(certDir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		NextProtos:   []string{"h2"},
	}, nil
}

// LoadCAPool reads a PEM file of CA certificates into a pool.
func LoadCAPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("load CA certificate: " + path + " holds no PEM certificate")
	}
	return pool, nil
}
