// Package cgroupfs creates, limits, inspects, kills and removes the control
// groups of jobs, on cgroup v1 and on cgroup v2 hosts.
//
// A Manager owns one parent group (by default "jobmanager") under the root
// of each hierarchy and one child group per job. Callers never build cgroup
// paths themselves: they ask a Manager for a Cgroup and hand its ProcsFiles
// to the process that joins it (see package jobexec).
//
// The mode is detected from /proc/self/mountinfo: a host with the unified
// hierarchy at /sys/fs/cgroup is v2; a host with v1 controllers (including
// "hybrid" hosts whose cgroup2 mount is nearly empty) uses the v1 controllers.
// The v1 driver lives in the files v1*.go and the v2 driver in v2*.go, one
// small file per controller.
package cgroupfs
