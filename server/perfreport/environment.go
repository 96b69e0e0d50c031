//go:build perfreport

package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/jobmanager/jobmanager/cgroupfs"
	"github.com/jobmanager/jobmanager/client/cli"
	"github.com/jobmanager/jobmanager/gen/go/jobmanager/v1/jobmanagerv1connect"
	"github.com/jobmanager/jobmanager/server/devcert"
)

// environment is a running server with certificates, for the measurements.
type environment struct {
	binDir, tmp, certDir, dataDir, parent, cgroupMode string
	ca                                                *devcert.Authority
	cgroups                                           cgroupfs.Manager
	server                                            *exec.Cmd
	addr                                              string
}

func newEnvironment(binDir string) (*environment, error) {
	tmp, err := os.MkdirTemp("", "jobmanager-perf-")
	if err != nil {
		return nil, err
	}
	binDir, err = filepath.Abs(binDir)
	if err != nil {
		return nil, err
	}
	e := &environment{binDir: binDir, tmp: tmp, certDir: filepath.Join(tmp, "certs"), parent: "jobmanager-perf-" + uuid.NewString()[:8]}
	if err := devcert.WriteDevSet(e.certDir, filepath.Join(tmp, "ca-private", "ca.key"), []string{"client1", "administrator"}); err != nil {
		return nil, err
	}
	if e.ca, err = devcert.LoadAuthority(filepath.Join(e.certDir, "ca.crt"), filepath.Join(tmp, "ca-private", "ca.key")); err != nil {
		return nil, err
	}
	if e.cgroups, err = cgroupfs.New(cgroupfs.Options{Parent: e.parent}); err != nil {
		return nil, err
	}
	e.cgroupMode = e.cgroups.Mode().String()
	return e, nil
}

var listening = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startServer starts bin/jobmanager on a data directory (fresh if "").
func (e *environment) startServer(dataDir string) error {
	if dataDir == "" {
		dataDir = filepath.Join(e.tmp, "data-"+uuid.NewString()[:8])
	}
	e.dataDir = dataDir
	e.server = exec.Command(filepath.Join(e.binDir, "jobmanager"), "--listen", "127.0.0.1:0", "--certDir", e.certDir,
		"--data-dir", dataDir, "--cgroup-parent", e.parent, "--max-running-jobs", "10000")
	stderr, err := e.server.StderrPipe()
	if err != nil {
		return err
	}
	if err := e.server.Start(); err != nil {
		return err
	}
	addr := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stderr)
		for scanner.Scan() {
			if m := listening.FindStringSubmatch(scanner.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case e.addr = <-addr:
		return nil
	case <-time.After(60 * time.Second):
		return fmt.Errorf("server did not start")
	}
}

func (e *environment) stopServer() {
	if e.server == nil {
		return
	}
	_ = e.server.Process.Signal(syscall.SIGTERM)
	_ = e.server.Wait()
	e.server = nil
}

func (e *environment) close() {
	e.stopServer()
	_ = e.cgroups.RemoveParent()
	_ = os.RemoveAll(e.tmp)
}

// client returns a client on a connection of its own.
func (e *environment) client(user string) (jobmanagerv1connect.JobManagerServiceClient, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(e.certDir, user+".crt"), filepath.Join(e.certDir, user+".key"))
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: e.ca.Pool(), Certificates: []tls.Certificate{cert}, ServerName: "localhost", NextProtos: []string{"h2"}}
	protocols := new(http.Protocols)
	protocols.SetHTTP2(true)
	transport := &http.Transport{TLSClientConfig: cfg, Protocols: protocols, HTTP2: cli.HTTP2Config()} // read as jobctl does
	return jobmanagerv1connect.NewJobManagerServiceClient(&http.Client{Transport: transport}, "https://"+e.addr, connect.WithGRPC()), nil
}

// serverRSS returns the server's current and peak resident memory.
func (e *environment) serverRSS() (current, peak int64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.server.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		field, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "kB")), 10, 64)
		switch field {
		case "VmRSS":
			current = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return current, peak
}
