//go:build perfreport

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"connectrpc.com/connect"

	jobmanagerv1 "github.com/jobmanager/jobmanager/gen/go/jobmanager/v1"
	"github.com/jobmanager/jobmanager/server/devcert"
)

const streamBytes = 1 << 30

func measureStreaming(e *environment, _ int) (section, error) {
	s := section{
		title:  "Streaming 1 GiB of finished output over loopback",
		header: []string{"how", "time", "MB/s per reader", "MB/s total", "vs raw TLS 1.3"},
	}
	rawD, err := rawTLS()
	if err != nil {
		return s, err
	}
	raw := mbps(streamBytes, rawD)
	add := func(name string, readers int, d time.Duration) {
		per := mbps(streamBytes, d)
		s.rows = append(s.rows, []string{name, fmt.Sprintf("%.2f s", d.Seconds()), fmt.Sprintf("%.0f", per), fmt.Sprintf("%.0f", per*float64(readers)), ratio(per, raw)})
	}
	add("raw TLS 1.3 (Go, one connection: the ceiling)", 1, rawD)

	if err := e.startServer(""); err != nil {
		return s, err
	}
	defer e.stopServer()
	id, err := finishedJob(e, "/usr/bin/head", "-c", strconv.Itoa(streamBytes), "/dev/zero")
	if err != nil {
		return s, err
	}
	for _, readers := range []int{1, 8} {
		d, err := streamReaders(e, id, readers)
		if err != nil {
			return s, err
		}
		add(fmt.Sprintf("JobManager StreamOutput, %d reader(s), a connection each", readers), readers, d)
	}
	d, err := jobctlStream(e, id)
	if err != nil {
		return s, err
	}
	add("`jobctl stream` into a pipe (1 reader, the CLI as shipped)", 1, d)
	_, peak := e.serverRSS()
	s.notes = append(s.notes, fmt.Sprintf("Server peak RSS during the streams: %.1f MiB.", float64(peak)/(1<<20)))
	if d, err := sshStream(e); err != nil {
		s.rows = append(s.rows, []string{"`ssh localhost head -c 1G /dev/zero`", "unavailable: " + oneLine(err), "", "", ""})
	} else {
		add("`ssh localhost head -c 1G /dev/zero` (OpenSSH)", 1, d)
	}
	return s, nil
}

// finishedJob runs a job to its end and returns its id.
func finishedJob(e *environment, program string, args ...string) (string, error) {
	client, err := e.client("client1")
	if err != nil {
		return "", err
	}
	ctx := context.Background()
	started, err := client.Start(ctx, connect.NewRequest(&jobmanagerv1.StartRequest{Name: "perf-output", ProgramPath: program, Arguments: args,
		Limits: &jobmanagerv1.ResourceLimits{MemoryBytes: 1 << 30}}))
	if err != nil {
		return "", err
	}
	id := started.Msg.GetJob().GetId()
	stream, err := client.StreamOutput(ctx, connect.NewRequest(&jobmanagerv1.StreamOutputRequest{JobId: id, OutputStream: jobmanagerv1.OutputStream_OUTPUT_STREAM_STDERR}))
	if err != nil {
		return "", err
	}
	for stream.Receive() {
	}
	return id, stream.Err()
}

// streamReaders streams the job's stdout to readers clients at once and
// returns the time until all have everything.
func streamReaders(e *environment, id string, readers int) (time.Duration, error) {
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	start := time.Now()
	for range readers {
		client, err := e.client("client1")
		if err != nil {
			return 0, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream, err := client.StreamOutput(context.Background(), connect.NewRequest(&jobmanagerv1.StreamOutputRequest{JobId: id, OutputStream: jobmanagerv1.OutputStream_OUTPUT_STREAM_STDOUT}))
			if err != nil {
				errs <- err
				return
			}
			defer stream.Close()
			var n int64
			for stream.Receive() {
				n += int64(len(stream.Msg().GetOutput()))
			}
			if err := stream.Err(); err != nil || n != streamBytes {
				errs <- fmt.Errorf("received %d bytes: %v", n, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// rawTLS sends 1 GiB over one TLS 1.3 connection on loopback, Go to Go,
// in 512 KiB writes: the ceiling of any TLS stream here.
func rawTLS() (time.Duration, error) {
	ca, err := devcert.NewAuthority("raw")
	if err != nil {
		return 0, err
	}
	issued, err := ca.IssueServer()
	if err != nil {
		return 0, err
	}
	cert, err := tls.X509KeyPair(issued.CertPEM, issued.KeyPEM)
	if err != nil {
		return 0, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}})
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		chunk := make([]byte, 512<<10)
		for sent := 0; sent < streamBytes; sent += len(chunk) {
			if _, err := conn.Write(chunk); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: ca.Pool(), ServerName: "localhost"})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	n, err := drain(conn)
	if err != nil || n != streamBytes {
		return 0, fmt.Errorf("raw TLS received %d bytes: %v", n, err)
	}
	return time.Since(start), nil
}

// drain reads r to its end, 1 MiB at a time, and counts the bytes. Not
// io.Copy to io.Discard: that reads 8 KiB at a time, which would make the
// measuring side the bottleneck of a pipe or a TLS connection.
func drain(r io.Reader) (int64, error) {
	buf := make([]byte, 1<<20)
	var n int64
	for {
		m, err := r.Read(buf)
		n += int64(m)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// jobctlStream times bin/jobctl streaming the job's stdout into a pipe
// read here, as `jobctl stream ID | consumer` would.
func jobctlStream(e *environment, id string) (time.Duration, error) {
	return timeOutput(exec.Command(filepath.Join(e.binDir, "jobctl"), "--hostPort", e.addr, "--certDir", e.certDir, "-u", "client1", "stream", id))
}

// timeOutput runs cmd, drains its stdout from a pipe, and returns how long
// it took once it has checked that all streamBytes came.
func timeOutput(cmd *exec.Cmd) (time.Duration, error) {
	start := time.Now()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	n, _ := drain(stdout)
	if err := cmd.Wait(); err != nil || n != streamBytes {
		return 0, fmt.Errorf("%s received %d bytes: %v", filepath.Base(cmd.Path), n, err)
	}
	return time.Since(start), nil
}

// sshStream runs a throwaway sshd on a loopback port with a key made here
// and times `ssh head -c 1G /dev/zero` through it.
func sshStream(e *environment) (time.Duration, error) {
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		if sshd, err = exec.LookPath("/usr/sbin/sshd"); err != nil {
			return 0, err
		}
	}
	dir := filepath.Join(e.tmp, "ssh")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	for _, key := range []string{"host", "client"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, key)).CombinedOutput(); err != nil {
			return 0, fmt.Errorf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "client.pub"))
	if err != nil {
		return 0, err
	}
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, pub, 0o600); err != nil {
		return 0, err
	}
	_ = os.MkdirAll("/run/sshd", 0o755)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	server := exec.Command(sshd, "-D", "-e", "-p", port, "-o", "ListenAddress=127.0.0.1", "-h", filepath.Join(dir, "host"),
		"-o", "AuthorizedKeysFile="+authorized, "-o", "PermitRootLogin=prohibit-password", "-o", "StrictModes=no", "-o", "UsePAM=no", "-o", "PidFile=none")
	if err := server.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = server.Process.Kill(); _ = server.Wait() }()
	args := []string{"-p", port, "-i", filepath.Join(dir, "client"), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "root@127.0.0.1"}
	var lastErr error
	for range 50 { // sshd takes a moment to listen
		if lastErr = exec.Command("ssh", append(args, "true")...).Run(); lastErr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lastErr != nil {
		return 0, fmt.Errorf("ssh to the throwaway sshd: %w", lastErr)
	}
	return timeOutput(exec.Command("ssh", append(args, "head", "-c", strconv.Itoa(streamBytes), "/dev/zero")...))
}
