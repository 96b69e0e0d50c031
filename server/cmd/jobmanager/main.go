// Command jobmanager is the JobManager server: it runs jobs for
// authenticated users and serves jobmanager.v1.JobManagerService (Connect,
// gRPC and gRPC-Web) with gRPC reflection and health on an mTLS HTTP/2
// listener.
//
//	jobmanager --listen :24482 --certDir DIR --data-dir /var/lib/jobmanager
//
// DIR holds ca.crt, server.crt and server.key. SIGTERM or SIGINT shut the
// server down gracefully: it stops accepting jobs, stops the running ones
// (recorded as stopped by the shutdown), ends every stream and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"connectrpc.com/grpchealth"
	"golang.org/x/sys/unix"

	"github.com/jobmanager/jobmanager/cgroupfs"
	"github.com/jobmanager/jobmanager/client/units"
	"github.com/jobmanager/jobmanager/gen/go/jobmanager/v1/jobmanagerv1connect"
	"github.com/jobmanager/jobmanager/jobexec"
	"github.com/jobmanager/jobmanager/server/api"
	"github.com/jobmanager/jobmanager/server/devcert"
	"github.com/jobmanager/jobmanager/server/job"
)

// shutdownTimeout bounds the graceful shutdown.
const shutdownTimeout = 30 * time.Second

// defaultWarmHelpers is how many idle helpers wait for jobs by default: two
// starts in a row are served warm, and each waiting helper costs a few MiB
// of memory and one network namespace.
const defaultWarmHelpers = 2

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "jobmanager:", err)
		os.Exit(1)
	}
}

// bytesFlag is a flag holding a size such as 512MiB.
type bytesFlag struct{ value *int64 }

func (f bytesFlag) String() string {
	if f.value == nil || *f.value == 0 {
		return "0"
	}
	return units.FormatBytes(*f.value)
}

func (f bytesFlag) Set(s string) error {
	v, err := units.ParseBytes(s)
	if err != nil {
		return err
	}
	*f.value = v
	return nil
}

type config struct {
	listen, certDir, dataDir, helper string
	cgroupParent, ioDevice, jobUser  string
	limits                           job.LimitPolicy
	outputLimit                      int64
	maxRunningJobs, warmHelpers      int
}

func parseFlags(args []string) (config, error) {
	var c config
	c.limits = job.DefaultLimitPolicy(runtime.NumCPU(), totalMemory())
	c.outputLimit = job.DefaultOutputLimit
	fs := flag.NewFlagSet("jobmanager", flag.ContinueOnError)
	fs.StringVar(&c.listen, "listen", ":24482", "`HOST:PORT` to listen on")
	fs.StringVar(&c.certDir, "certDir", devcert.DefaultDir(), "`DIR` holding ca.crt, server.crt and server.key")
	fs.StringVar(&c.dataDir, "data-dir", "/var/lib/jobmanager", "`DIR` for job records and output")
	fs.StringVar(&c.helper, "jobexec", "", "`PATH` of the jobexec helper (default: beside this executable)")
	fs.StringVar(&c.jobUser, "job-user", "nobody", "`USER` that jobs run as, without capabilities and with no_new_privs; \"root\" runs them as root")
	fs.StringVar(&c.cgroupParent, "cgroup-parent", cgroupfs.DefaultParent, "cgroup `NAME` under which job cgroups are made")
	fs.StringVar(&c.ioDevice, "io-device", "", "`MAJOR:MINOR` of the disk I/O limits apply to (default: the disk of --data-dir)")
	fs.Float64Var(&c.limits.Default.CPUs, "default-cpus", c.limits.Default.CPUs, "CPUs of a job that asks for none (0: unlimited)")
	fs.Var(bytesFlag{&c.limits.Default.MemoryBytes}, "default-memory", "memory of a job that asks for none (0: unlimited)")
	fs.Int64Var(&c.limits.Default.Pids, "default-pids", c.limits.Default.Pids, "processes of a job that asks for no limit (0: unlimited)")
	fs.Var(bytesFlag{&c.limits.Default.IOReadBPS}, "default-io-read-bps", "read bandwidth per second of a job that asks for none (0: unlimited)")
	fs.Var(bytesFlag{&c.limits.Default.IOWriteBPS}, "default-io-write-bps", "write bandwidth per second of a job that asks for none (0: unlimited)")
	fs.Float64Var(&c.limits.Max.CPUs, "max-cpus", c.limits.Max.CPUs, "most CPUs a job may ask for (0: no maximum)")
	fs.Var(bytesFlag{&c.limits.Max.MemoryBytes}, "max-memory", "most memory a job may ask for (0: no maximum)")
	fs.Int64Var(&c.limits.Max.Pids, "max-pids", c.limits.Max.Pids, "most processes a job may ask for (0: no maximum)")
	fs.Var(bytesFlag{&c.limits.Max.IOReadBPS}, "max-io-read-bps", "most read bandwidth a job may ask for (0: no maximum)")
	fs.Var(bytesFlag{&c.limits.Max.IOWriteBPS}, "max-io-write-bps", "most write bandwidth a job may ask for (0: no maximum)")
	fs.Var(bytesFlag{&c.outputLimit}, "output-limit", "most output kept per stream of a job; the rest is dropped")
	fs.IntVar(&c.maxRunningJobs, "max-running-jobs", job.DefaultMaxRunningJobs, "most jobs running at once")
	fs.IntVar(&c.warmHelpers, "warm-helpers", defaultWarmHelpers, "job helpers kept started ahead of jobs, each in its new namespaces (0: start each with its job)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.warmHelpers < 0 {
		return config{}, fmt.Errorf("--warm-helpers %d: want 0 or more", c.warmHelpers)
	}
	if c.helper == "" {
		self, err := os.Executable()
		if err != nil {
			return config{}, fmt.Errorf("find the jobexec helper: %w", err)
		}
		c.helper = filepath.Join(filepath.Dir(self), "jobexec")
	}
	return c, nil
}

func run(args []string) error {
	c, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	tlsConfig, err := api.ServerTLSConfig(c.certDir)
	if err != nil {
		return fmt.Errorf("%w (make development certificates with `go tool task certs`)", err)
	}
	cgroups, err := cgroupfs.New(cgroupfs.Options{Parent: c.cgroupParent})
	if err != nil {
		return fmt.Errorf("cgroups: %w", err)
	}
	var dev cgroupfs.Device
	if c.ioDevice != "" {
		if dev, err = cgroupfs.ParseDevice(c.ioDevice); err != nil {
			return fmt.Errorf("--io-device: %w", err)
		}
	}
	runAs, env, err := jobIdentity(c.jobUser)
	if err != nil {
		return err
	}
	jobs, err := job.Open(job.Options{
		DataDir: c.dataDir, Helper: c.helper, Cgroups: cgroups, Limits: c.limits,
		IODevice: dev, OutputLimit: c.outputLimit, MaxRunningJobs: c.maxRunningJobs, WarmHelpers: c.warmHelpers, Logger: log,
		User: runAs, Env: env,
	})
	if err != nil {
		return err
	}
	health := grpchealth.NewStaticChecker(jobmanagerv1connect.JobManagerServiceName)
	srv := api.NewHTTPServer(api.Handler(jobs, health, log), tlsConfig, log)
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	log.Info("listening", "addr", ln.Addr().String(), "cgroups", cgroups.Mode().String(), "data_dir", c.dataDir)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	health.SetStatus(jobmanagerv1connect.JobManagerServiceName, grpchealth.StatusNotServing)
	health.SetStatus("", grpchealth.StatusNotServing)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	// The engine first: it refuses new jobs, stops the running ones and
	// completes their output, which ends every stream; then the HTTP
	// server has only short requests left to finish.
	jobsErr := jobs.Shutdown(shutdownCtx)
	httpErr := srv.Shutdown(shutdownCtx)
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		httpErr = errors.Join(httpErr, err)
	}
	if err := errors.Join(jobsErr, httpErr); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// jobIdentity resolves --job-user: the user jobs run as (nil for root) and
// their environment (a fixed PATH, the user's HOME, USER and LOGNAME).
func jobIdentity(name string) (*jobexec.User, []string, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, nil, fmt.Errorf("--job-user: %w", err)
	}
	uid, errUID := strconv.ParseUint(u.Uid, 10, 32)
	gid, errGID := strconv.ParseUint(u.Gid, 10, 32)
	if errUID != nil || errGID != nil {
		return nil, nil, fmt.Errorf("--job-user %s: non-numeric uid or gid", name)
	}
	env := []string{jobexec.DefaultPath, "HOME=" + u.HomeDir, "USER=" + u.Username, "LOGNAME=" + u.Username}
	if uid == 0 {
		return nil, env, nil
	}
	return &jobexec.User{UID: uint32(uid), GID: uint32(gid)}, env, nil
}

// totalMemory is the host's RAM, the default maximum of a job's memory.
func totalMemory() int64 {
	var info unix.Sysinfo_t
	if err := unix.Sysinfo(&info); err != nil {
		return 0
	}
	return int64(info.Totalram) * int64(info.Unit)
}
