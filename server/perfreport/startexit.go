//go:build perfreport

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/jobmanager/jobmanager/cgroupfs"
	jobmanagerv1 "github.com/jobmanager/jobmanager/gen/go/jobmanager/v1"
	"github.com/jobmanager/jobmanager/server/job"
)

// The same limits for every contender: 1 CPU, 512 MiB, 1024 processes.
const (
	limitCPUQuota = 100000
	limitMemory   = 512 << 20
	limitPids     = 1024
)

// idlePause is the pause before each run of "one start on an idle host".
const idlePause = 20 * time.Millisecond

func measureStartToExit(e *environment, runs int) (section, error) {
	s := section{
		title: "Start-to-exit of an isolated /bin/true (PID, mount and network namespaces; cpu, memory, pids limits)",
		header: []string{"how", "one start on an idle host: median", "p90", "vs bare unshare",
			"back to back: median", "vs bare unshare"},
	}
	type contender struct {
		name string
		run  func() (func() error, func(), error)
	}
	contenders := []contender{
		{"`unshare --pid --mount --net --fork --mount-proc` (no cgroups)", prepareUnshare},
		{"JobManager library (`job.Manager.Start` to recorded end)", func() (func() error, func(), error) { return prepareLibrary(e) }},
		{"JobManager API, one connection (`Start` + stream to its end)", func() (func() error, func(), error) { return prepareAPI(e) }},
		{"`cgcreate` + `cgset` + `cgexec unshare …` + `cgdelete`", prepareCgexec},
		{"`crun run` (same namespaces and limits)", func() (func() error, func(), error) { return prepareOCI(e, "crun") }},
		{"`runc run` (same namespaces and limits)", func() (func() error, func(), error) { return prepareOCI(e, "runc") }},
	}
	var idleBase, busyBase float64
	for _, c := range contenders {
		f, cleanup, err := c.run()
		if err != nil {
			s.rows = append(s.rows, []string{c.name, "unavailable: " + oneLine(err), "", "", "", ""})
			continue
		}
		idle, err := timeRuns(runs, idlePause, f)
		var busy durations
		if err == nil {
			busy, err = timeRuns(runs, 0, f)
		}
		cleanup()
		if err != nil {
			s.rows = append(s.rows, []string{c.name, "failed: " + oneLine(err), "", "", "", ""})
			continue
		}
		if idleBase == 0 {
			idleBase, busyBase = float64(idle.median()), float64(busy.median())
		}
		s.rows = append(s.rows, []string{c.name, ms(idle.median()), ms(idle.quantile(0.9)), ratio(float64(idle.median()), idleBase),
			ms(busy.median()), ratio(float64(busy.median()), busyBase)})
	}
	s.notes = append(s.notes, fmt.Sprintf("%d runs each after one warm-up; every contender is started from Go with os/exec or in-process. "+
		"\"One start on an idle host\" pauses %v before each run (not timed), which is when JobManager's pool of warm helpers "+
		"(`--warm-helpers`, default 2) refills; \"back to back\" runs without pauses, so after the pool's two JobManager "+
		"starts its helpers cold.", runs, idlePause))
	return s, nil
}

func oneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ")
}

func prepareUnshare() (func() error, func(), error) {
	path, err := exec.LookPath("unshare")
	if err != nil {
		return nil, nil, err
	}
	return func() error {
		return exec.Command(path, "--pid", "--mount", "--net", "--fork", "--mount-proc", "/bin/true").Run()
	}, func() {}, nil
}

func prepareLibrary(e *environment) (func() error, func(), error) {
	cgroups, err := cgroupfs.New(cgroupfs.Options{Parent: e.parent + "-lib"})
	if err != nil {
		return nil, nil, err
	}
	m, err := job.Open(job.Options{
		DataDir: filepath.Join(e.tmp, "lib-data"), Helper: filepath.Join(e.binDir, "jobexec"), Cgroups: cgroups,
		Limits: job.DefaultLimitPolicy(runtime.NumCPU(), 8<<30), Logger: slog.New(slog.DiscardHandler),
		WarmHelpers: 2, // as the server's --warm-helpers default
	})
	if err != nil {
		return nil, nil, err
	}
	ctx := context.Background()
	f := func() error {
		status, err := m.Start(ctx, "perf", job.StartRequest{Name: uuid.NewString(), ProgramPath: "/bin/true"})
		if err != nil {
			return err
		}
		r, err := m.Stream(ctx, "perf", status.ID, job.Stdout, 0)
		if err != nil {
			return err
		}
		defer r.Close()
		buf := make([]byte, 16)
		for {
			if _, err := r.Read(ctx, buf); errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return err
			}
		}
	}
	cleanup := func() {
		_ = m.Shutdown(ctx)
		_ = cgroups.RemoveParent()
	}
	return f, cleanup, nil
}

func prepareAPI(e *environment) (func() error, func(), error) {
	if err := e.startServer(""); err != nil {
		return nil, nil, err
	}
	client, err := e.client("client1")
	if err != nil {
		return nil, nil, err
	}
	ctx := context.Background()
	f := func() error {
		started, err := client.Start(ctx, connect.NewRequest(&jobmanagerv1.StartRequest{Name: uuid.NewString(), ProgramPath: "/bin/true"}))
		if err != nil {
			return err
		}
		stream, err := client.StreamOutput(ctx, connect.NewRequest(&jobmanagerv1.StreamOutputRequest{JobId: started.Msg.GetJob().GetId(), OutputStream: jobmanagerv1.OutputStream_OUTPUT_STREAM_STDOUT}))
		if err != nil {
			return err
		}
		defer stream.Close()
		for stream.Receive() {
		}
		return stream.Err()
	}
	return f, e.stopServer, nil
}

func prepareCgexec() (func() error, func(), error) {
	for _, tool := range []string{"cgcreate", "cgset", "cgexec", "cgdelete", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, nil, err
		}
	}
	n := 0
	f := func() error {
		n++
		group := fmt.Sprintf("cpu,cpuacct,memory,pids,freezer:/jobmanager-perf-cg-%d", n)
		steps := [][]string{
			{"cgcreate", "-g", group},
			{"cgset", "-r", fmt.Sprintf("cpu.cfs_quota_us=%d", limitCPUQuota), "-r", fmt.Sprintf("memory.limit_in_bytes=%d", limitMemory),
				"-r", fmt.Sprintf("pids.max=%d", limitPids), fmt.Sprintf("/jobmanager-perf-cg-%d", n)},
			{"cgexec", "-g", group, "unshare", "--pid", "--mount", "--net", "--fork", "--mount-proc", "/bin/true"},
			{"cgdelete", "-g", group},
		}
		for _, step := range steps {
			if out, err := exec.Command(step[0], step[1:]...).CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %w: %s", step[0], err, out)
			}
		}
		return nil
	}
	// cgdelete does not always remove the group from every hierarchy when
	// cpu and cpuacct are mounted apart; leave nothing behind.
	cleanup := func() {
		for i := 0; i <= n; i++ {
			for _, c := range []string{"cpu", "cpuacct", "memory", "pids", "freezer"} {
				_ = os.Remove(fmt.Sprintf("/sys/fs/cgroup/%s/jobmanager-perf-cg-%d", c, i))
			}
		}
	}
	return f, cleanup, nil
}

// prepareOCI makes an OCI bundle whose rootfs holds /bin/true and its
// libraries, with the same namespaces and limits, and runs it with the
// OCI runtime (crun or runc).
func prepareOCI(e *environment, runtime string) (func() error, func(), error) {
	path, err := exec.LookPath(runtime)
	if err != nil {
		return nil, nil, err
	}
	bundle := filepath.Join(e.tmp, "bundle-"+runtime)
	rootfs := filepath.Join(bundle, "rootfs")
	if err := copyWithLibraries("/bin/true", rootfs); err != nil {
		return nil, nil, err
	}
	for _, dir := range []string{"proc", "dev", "sys"} {
		if err := os.MkdirAll(filepath.Join(rootfs, dir), 0o755); err != nil {
			return nil, nil, err
		}
	}
	spec := map[string]any{
		"ociVersion": "1.0.2",
		"process":    map[string]any{"terminal": false, "user": map[string]any{"uid": 0, "gid": 0}, "args": []string{"/bin/true"}, "cwd": "/", "env": []string{"PATH=/bin"}},
		"root":       map[string]any{"path": "rootfs", "readonly": true},
		"mounts":     []map[string]any{{"destination": "/proc", "type": "proc", "source": "proc"}},
		"linux": map[string]any{
			"namespaces": []map[string]string{{"type": "pid"}, {"type": "mount"}, {"type": "network"}},
			"resources": map[string]any{
				"cpu":    map[string]any{"quota": limitCPUQuota, "period": 100000},
				"memory": map[string]any{"limit": limitMemory},
				"pids":   map[string]any{"limit": limitPids},
			},
		},
	}
	data, _ := json.Marshal(spec)
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644); err != nil {
		return nil, nil, err
	}
	n := 0
	f := func() error {
		n++
		out, err := exec.Command(path, "run", "--bundle", bundle, fmt.Sprintf("jobmanager-perf-%d", n)).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", runtime, err, out)
		}
		return nil
	}
	return f, func() {}, nil
}

// copyWithLibraries copies a dynamically linked program and the libraries
// ldd lists into rootfs at the same paths.
func copyWithLibraries(program, rootfs string) error {
	files := []string{program}
	out, err := exec.Command("ldd", program).Output()
	if err != nil {
		return fmt.Errorf("ldd: %w", err)
	}
	for _, field := range strings.Fields(string(out)) {
		if strings.HasPrefix(field, "/") {
			files = append(files, field)
		}
	}
	for _, file := range files {
		real, err := filepath.EvalSymlinks(file)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(real)
		if err != nil {
			return err
		}
		dst := filepath.Join(rootfs, file)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, 0o755); err != nil {
			return err
		}
	}
	return nil
}
