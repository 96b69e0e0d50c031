package job

import (
	"math"

	"github.com/jobmanager/jobmanager/cgroupfs"
)

// Limits are the resource limits of a job. In a request, 0 means "the
// server's default"; in a policy's Default or a job's status, 0 means "not
// limited"; in a policy's Max, 0 means "no maximum".
type Limits struct {
	// CPUs is CPU bandwidth in CPUs (1.5 = one and a half).
	CPUs float64 `json:"cpus,omitempty"`
	// MemoryBytes is the memory limit (swap included).
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	// Pids is the most processes and threads of the program at once.
	Pids int64 `json:"pids,omitempty"`
	// IOReadBPS and IOWriteBPS limit bandwidth on the data disk.
	IOReadBPS  int64 `json:"io_read_bps,omitempty"`
	IOWriteBPS int64 `json:"io_write_bps,omitempty"`
}

// LimitPolicy is the server's rule for limits: defaults for what a request
// leaves out, and maxima that no request may exceed.
type LimitPolicy struct {
	Default Limits
	Max     Limits
}

// DefaultLimitPolicy is a policy for a shared host: every job is limited to
// one CPU, 512 MiB and 1024 processes by default, I/O is not limited unless
// asked, and no job may ask for more than the machine has.
func DefaultLimitPolicy(numCPU int, memoryBytes int64) LimitPolicy {
	return LimitPolicy{
		Default: Limits{CPUs: 1, MemoryBytes: 512 << 20, Pids: 1024},
		Max:     Limits{CPUs: float64(numCPU), MemoryBytes: memoryBytes, Pids: 1 << 20},
	}
}

// effective applies the policy to requested limits and checks them: the
// result is what the job runs with.
func (p LimitPolicy) effective(req Limits) (Limits, error) {
	if req.CPUs < 0 || math.IsNaN(req.CPUs) || math.IsInf(req.CPUs, 0) {
		return Limits{}, invalidArgument("cpus must be a positive number, got %v", req.CPUs)
	}
	for _, v := range []struct {
		name  string
		value int64
	}{{"memory", req.MemoryBytes}, {"pids", req.Pids}, {"io read limit", req.IOReadBPS}, {"io write limit", req.IOWriteBPS}} {
		if v.value < 0 {
			return Limits{}, invalidArgument("%s must not be negative, got %d", v.name, v.value)
		}
	}
	out := Limits{
		CPUs:        orFloat(req.CPUs, p.Default.CPUs),
		MemoryBytes: orInt(req.MemoryBytes, p.Default.MemoryBytes),
		Pids:        orInt(req.Pids, p.Default.Pids),
		IOReadBPS:   orInt(req.IOReadBPS, p.Default.IOReadBPS),
		IOWriteBPS:  orInt(req.IOWriteBPS, p.Default.IOWriteBPS),
	}
	switch {
	case p.Max.CPUs > 0 && out.CPUs > p.Max.CPUs:
		return Limits{}, invalidArgument("cpus %v is over the server's maximum of %v", out.CPUs, p.Max.CPUs)
	case p.Max.MemoryBytes > 0 && out.MemoryBytes > p.Max.MemoryBytes:
		return Limits{}, invalidArgument("memory %d is over the server's maximum of %d bytes", out.MemoryBytes, p.Max.MemoryBytes)
	case p.Max.Pids > 0 && out.Pids > p.Max.Pids:
		return Limits{}, invalidArgument("pids %d is over the server's maximum of %d", out.Pids, p.Max.Pids)
	case p.Max.IOReadBPS > 0 && out.IOReadBPS > p.Max.IOReadBPS:
		return Limits{}, invalidArgument("io read limit %d is over the server's maximum of %d bytes/s", out.IOReadBPS, p.Max.IOReadBPS)
	case p.Max.IOWriteBPS > 0 && out.IOWriteBPS > p.Max.IOWriteBPS:
		return Limits{}, invalidArgument("io write limit %d is over the server's maximum of %d bytes/s", out.IOWriteBPS, p.Max.IOWriteBPS)
	}
	// The kernel's minimums, checked before anything exists. The device is
	// resolved later, only for jobs with I/O limits; a placeholder stands
	// in so that its absence is not reported here.
	if err := out.cgroup(cgroupfs.Device{Major: 1}).Validate(); err != nil {
		return Limits{}, invalidArgument("%v", err)
	}
	return out, nil
}

// cgroup converts the limits for cgroupfs, with the I/O limits on dev.
func (l Limits) cgroup(dev cgroupfs.Device) cgroupfs.Limits {
	return cgroupfs.Limits{
		CPUs: l.CPUs, MemoryBytes: l.MemoryBytes, Pids: l.Pids,
		IOReadBPS: l.IOReadBPS, IOWriteBPS: l.IOWriteBPS, IODevice: dev,
	}
}

func orFloat(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

func orInt(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}
