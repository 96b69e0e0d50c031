package job

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/jobmanager/jobmanager/cgroupfs"
	"github.com/jobmanager/jobmanager/internal/warm"
	"github.com/jobmanager/jobmanager/jobexec"
	"github.com/jobmanager/jobmanager/server/outputlog"
)

// Defaults of Options.
const (
	// DefaultOutputLimit is the most output kept per stream of a job.
	DefaultOutputLimit = 4 << 30
	// DefaultMaxRunningJobs is the most jobs running at once.
	DefaultMaxRunningJobs = 1000
	// DefaultPageSize and MaxPageSize bound List pages.
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// cleanupTimeout bounds the wait for a job's cgroup to empty and go.
const cleanupTimeout = 30 * time.Second

// Options configure a Manager.
type Options struct {
	// DataDir holds job records and output. Required.
	DataDir string
	// Helper is the path of the jobexec binary. Required.
	Helper string
	// Cgroups makes the jobs' cgroups. Required.
	Cgroups cgroupfs.Manager
	// Limits are the defaults and maxima of job limits.
	Limits LimitPolicy
	// IODevice is the device I/O limits apply to; zero means the disk
	// holding DataDir.
	IODevice cgroupfs.Device
	// OutputLimit is the most bytes kept per output stream; 0 means
	// DefaultOutputLimit.
	OutputLimit int64
	// MaxRunningJobs bounds concurrent jobs; 0 means DefaultMaxRunningJobs.
	MaxRunningJobs int
	// WarmHelpers is how many job helpers are kept started ahead of the
	// jobs that will use them (see jobexec.Pool), and how many job
	// directories are kept made; 0 makes both with each job.
	WarmHelpers int
	// Env is the programs' environment; nil means jobexec.DefaultEnv.
	Env []string
	// User is the unprivileged user programs run as, without capabilities
	// and with no_new_privs; nil runs them as the server's user (root).
	User *jobexec.User
	// Logger receives one line per job event; nil discards them.
	Logger *slog.Logger
}

// Manager runs and keeps jobs. It is safe for concurrent use.
type Manager struct {
	opts    Options
	store   store
	log     *slog.Logger
	helpers *jobexec.Pool
	// spares are ids whose job directories are made (store.makeSpare).
	spares *warm.Pool[string]

	ioDeviceOnce sync.Once
	ioDevice     cgroupfs.Device
	ioDeviceErr  error

	mu sync.Mutex
	// jobs holds every job by id; order holds them by start time.
	jobs  map[string]*job
	order []*job
	// names reserves the names of running (and starting) jobs per owner.
	names   map[nameKey]string
	running int
	closing bool
	// monitors counts the goroutines that watch running jobs.
	monitors sync.WaitGroup
}

type nameKey struct{ owner, name string }

// Open starts a Manager on opts.DataDir. It kills and removes whatever is
// left of jobs from an earlier run of the server (their cgroups), reloads
// every job record, and marks the jobs that were running as lost.
func Open(opts Options) (*Manager, error) {
	switch {
	case opts.DataDir == "":
		return nil, errors.New("job manager: no data directory")
	case opts.Cgroups == nil:
		return nil, errors.New("job manager: no cgroup manager")
	}
	if info, err := os.Stat(opts.Helper); err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("job manager: helper %q is not an executable file", opts.Helper)
	}
	// The helper starts in "/", so a relative path would not find it.
	helper, err := filepath.Abs(opts.Helper)
	if err != nil {
		return nil, fmt.Errorf("job manager: helper: %w", err)
	}
	opts.Helper = helper
	if opts.OutputLimit == 0 {
		opts.OutputLimit = DefaultOutputLimit
	}
	if opts.MaxRunningJobs == 0 {
		opts.MaxRunningJobs = DefaultMaxRunningJobs
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	m := &Manager{
		opts:  opts,
		store: store{dir: opts.DataDir},
		log:   opts.Logger,
		jobs:  map[string]*job{},
		names: map[nameKey]string{},
	}
	if !opts.IODevice.IsZero() {
		m.ioDeviceOnce.Do(func() { m.ioDevice = opts.IODevice })
	}
	if err := m.store.clearSpares(); err != nil {
		return nil, err
	}
	// Records first: what they say about the previous run is read before
	// anything of that run is touched.
	if err := m.recover(); err != nil {
		return nil, err
	}
	if err := m.killLeftovers(); err != nil {
		return nil, err
	}
	m.helpers = jobexec.NewPool(opts.Helper, opts.WarmHelpers)
	m.spares = warm.New(opts.WarmHelpers, m.store.makeSpare, m.store.discardSpare)
	return m, nil
}

// killLeftovers kills and removes every job cgroup: at start-up, none of
// them belongs to a job of this process.
func (m *Manager) killLeftovers() error {
	ids, err := m.opts.Cgroups.List()
	if err != nil {
		return fmt.Errorf("list leftover cgroups: %w", err)
	}
	for _, id := range ids {
		cg := m.opts.Cgroups.Cgroup(id)
		if err := cg.Kill(); err != nil {
			return fmt.Errorf("kill leftover job %s: %w", id, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		err := cg.Remove(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("remove leftover job %s: %w", id, err)
		}
		m.log.Warn("killed leftover of a job from an earlier run", "job", id)
	}
	return nil
}

// recover reloads the job records.
func (m *Manager) recover() error {
	records, broken, err := m.store.load()
	if err != nil {
		return err
	}
	for _, id := range broken {
		m.log.Warn("ignoring a job directory without a valid record", "job", id)
	}
	slices.SortFunc(records, func(a, b Status) int {
		if c := a.StartTime.Compare(b.StartTime); c != 0 {
			return c
		}
		return compareStrings(a.ID, b.ID)
	})
	now := time.Now()
	for _, status := range records {
		if status.State == StateRunning {
			status.State = StateLost
			status.Error = "the server stopped while the job was running; what was left of it was killed when the server restarted"
			status.EndTime = now
			if err := m.store.save(status, true); err != nil {
				return err
			}
			m.log.Warn("job lost in a server restart", "job", status.ID, "owner", status.Owner)
		}
		j := &job{status: status, done: closedChan(), cleaned: closedChan()}
		for _, stream := range []Stream{Stdout, Stderr} {
			l, err := outputlog.OpenComplete(m.store.outputPath(status.ID, stream), status.OutputTruncated)
			if err != nil {
				return fmt.Errorf("job %s: %w", status.ID, err)
			}
			j.setLog(stream, l)
		}
		m.jobs[status.ID] = j
		m.order = append(m.order, j)
	}
	return nil
}

// Start validates req, then starts the job and returns its status once the
// program runs. When the job fails after it was created (a limit the
// kernel refused, an exec failure), the error says why and the job stays
// listed as failed to start.
func (m *Manager) Start(ctx context.Context, caller Caller, req StartRequest) (Status, error) {
	if err := req.validate(); err != nil {
		return Status{}, err
	}
	limits, err := m.opts.Limits.effective(req.Limits)
	if err != nil {
		return Status{}, err
	}
	var dev cgroupfs.Device
	if limits.IOReadBPS > 0 || limits.IOWriteBPS > 0 {
		if dev, err = m.resolveIODevice(); err != nil {
			return Status{}, err
		}
	}
	id, spare, err := m.reserve(caller, req.Name)
	if err != nil {
		return Status{}, err
	}
	j, startErr := m.launch(ctx, caller, id, spare, req, limits, dev)
	if j == nil {
		m.release(caller, req.Name)
		return Status{}, startErr
	}
	m.register(j)
	return j.snapshot(), startErr
}

// reserve claims caller's job name and a running slot, and picks a new id:
// that of a spare job directory when one is ready (spare is then true).
func (m *Manager) reserve(caller Caller, name string) (id string, spare bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closing:
		return "", false, &Error{Code: CodeUnavailable, Message: "the server is shutting down"}
	case m.names[nameKey{string(caller), name}] != "":
		return "", false, &Error{Code: CodeAlreadyExists, Message: fmt.Sprintf("you already have a running job named %q", name)}
	case m.running >= m.opts.MaxRunningJobs:
		return "", false, &Error{Code: CodeResourceExhausted, Message: fmt.Sprintf("the server runs its maximum of %d jobs; try again when one ends", m.opts.MaxRunningJobs)}
	}
	id, spare = m.spares.Take()
	if !spare {
		id = uuid.NewString()
	}
	for m.jobs[id] != nil {
		// A random id seen before: never in practice. A spare left
		// unused goes at the next start of the server.
		id, spare = uuid.NewString(), false
	}
	m.names[nameKey{string(caller), name}] = id
	m.running++
	return id, spare, nil
}

// release gives back what reserve claimed.
func (m *Manager) release(caller Caller, name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.names, nameKey{string(caller), name})
	m.running--
}

// register makes a started (or failed) job visible, in start order.
func (m *Manager) register(j *job) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.jobs[j.status.ID] = j
	m.order = append(m.order, j)
}

func (m *Manager) resolveIODevice() (cgroupfs.Device, error) {
	m.ioDeviceOnce.Do(func() {
		m.ioDevice, m.ioDeviceErr = cgroupfs.DeviceOf(m.opts.DataDir)
	})
	if m.ioDeviceErr != nil {
		m.log.Error("I/O limits unavailable", "err", m.ioDeviceErr)
		return cgroupfs.Device{}, invalidArgument("I/O limits are not available on this server: its data directory is not on a block device (the operator can name one with --io-device)")
	}
	return m.ioDevice, nil
}

// Stop kills every process of the job and returns once the job has ended
// and its cgroup is gone (or ctx ends). Stopping an ended job does nothing.
func (m *Manager) Stop(ctx context.Context, caller Caller, id string) error {
	j, err := m.lookup(caller, id)
	if err != nil {
		return err
	}
	if err := j.kill(stopByRequest); err != nil {
		m.log.Error("stop failed", "job", id, "caller", string(caller), "err", err)
		return internal("the job could not be stopped", err)
	}
	select {
	case <-j.cleaned:
		m.log.Info("job stopped", "job", id, "caller", string(caller))
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Query returns the job's status.
func (m *Manager) Query(ctx context.Context, caller Caller, id string) (Status, error) {
	j, err := m.lookup(caller, id)
	if err != nil {
		return Status{}, err
	}
	return j.snapshot(), nil
}

// List returns one page of the jobs caller may see, oldest first, and the
// token of the next page ("" after the last). pageSize 0 means
// DefaultPageSize; it is capped at MaxPageSize.
func (m *Manager) List(ctx context.Context, caller Caller, pageSize int, pageToken string) ([]Status, string, error) {
	switch {
	case pageSize < 0:
		return nil, "", invalidArgument("page size must not be negative")
	case pageSize == 0:
		pageSize = DefaultPageSize
	case pageSize > MaxPageSize:
		pageSize = MaxPageSize
	}
	m.mu.Lock()
	order := m.order
	m.mu.Unlock()
	start, err := decodePageToken(pageToken, len(order))
	if err != nil {
		return nil, "", err
	}
	var page []Status
	for i := start; i < len(order); i++ {
		j := order[i]
		if !caller.mayAccess(j.owner()) {
			continue
		}
		if len(page) == pageSize {
			return page, encodePageToken(i), nil
		}
		page = append(page, j.snapshot())
	}
	return page, "", nil
}

// Stream returns a reader of the job's output from offset. The caller must
// Close it.
func (m *Manager) Stream(ctx context.Context, caller Caller, id string, stream Stream, offset int64) (*outputlog.Reader, error) {
	if stream != Stdout && stream != Stderr {
		return nil, invalidArgument("output stream must be stdout or stderr")
	}
	if offset < 0 {
		return nil, invalidArgument("offset must not be negative, got %d", offset)
	}
	j, err := m.lookup(caller, id)
	if err != nil {
		return nil, err
	}
	r, err := j.log(stream).NewReader(offset)
	if errors.Is(err, outputlog.ErrOffsetOutOfRange) {
		return nil, &Error{Code: CodeOutOfRange, Message: fmt.Sprintf("offset %d is past the end of the job's %s (%d bytes)", offset, stream.fileName(), j.log(stream).Size())}
	}
	if err != nil {
		m.log.Error("open output failed", "job", id, "err", err)
		return nil, internal("the job's output cannot be read", err)
	}
	return r, nil
}

// Shutdown stops accepting jobs, kills the running ones (recorded as
// stopped by the shutdown), and returns when every job's end is recorded
// and its output complete, so that every stream ends.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closing = true
	jobs := slices.Clone(m.order)
	m.mu.Unlock()
	var errs []error
	for _, j := range jobs {
		if err := j.kill(stopByShutdown); err != nil {
			errs = append(errs, err)
		}
	}
	done := make(chan struct{})
	go func() { m.monitors.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("jobs still ending: %w", ctx.Err()))
	}
	m.helpers.Close()
	m.spares.Close()
	return errors.Join(errs...)
}

// lookup finds a job the caller may access.
func (m *Manager) lookup(caller Caller, id string) (*job, error) {
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		return nil, invalidArgument("job id %q is not a valid id (a UUID such as 123e4567-e89b-42d3-a456-426614174000)", truncateForMessage(id))
	}
	m.mu.Lock()
	j := m.jobs[id]
	m.mu.Unlock()
	if j == nil || !caller.mayAccess(j.owner()) {
		return nil, notFound(id)
	}
	return j, nil
}

func encodePageToken(index int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("p" + strconv.Itoa(index)))
}

func decodePageToken(token string, size int) (int, error) {
	if token == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err == nil && len(raw) > 1 && raw[0] == 'p' {
		if index, err := strconv.Atoi(string(raw[1:])); err == nil && index > 0 && index <= size {
			return index, nil
		}
	}
	return 0, invalidArgument("page token is not one this server issued")
}

func truncateForMessage(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}
