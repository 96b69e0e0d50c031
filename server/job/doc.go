// Package job is the JobManager engine: it starts, stops, queries, lists
// and streams jobs, and owns the authorization policy. It imports no RPC
// package; server/api serves it over Connect.
//
// A Manager keeps every job it ever started, in memory and in its data
// directory, where each job has a directory holding its record (job.json,
// replaced atomically on every change of state) and its two output logs.
// A job runs through package jobexec inside its own cgroup (package
// cgroupfs). The Manager survives restarts: on Open it reloads every
// record, marks the jobs that were running when the previous server died as
// lost, kills what is left of them and keeps their output streamable.
//
// Authorization: a caller sees and touches only its own jobs; the caller
// named Administrator sees and touches all. A job of another user is
// reported exactly like a job that does not exist.
package job
