// Package jobexec is the small helper that runs a job's program inside the
// job's cgroups and namespaces, and the server's side of its protocol.
//
// The server calls Launch, which starts the jobexec binary in new PID, mount
// and network namespaces, with a minimal environment and with
// PR_SET_PDEATHSIG. The helper (Main, running as PID 1 of the new PID
// namespace) then, in this order:
//
//  1. writes itself into the cgroup.procs file of each of the job's cgroups;
//  2. makes "/" a recursive slave mount, so that nothing it mounts leaks out;
//  3. mounts a fresh /proc that shows only the job's processes;
//  4. brings the loopback interface up (the only interface in the namespace);
//  5. for an unprivileged job, sets no_new_privs and empties the capability
//     bounding set (both inherited by the program);
//  6. reports "ready" and waits for the server's go-ahead (Process.Go);
//  7. starts the program as its child, as the job's user when one is given
//     (groups, gid, then uid set in the child before exec), so that the
//     program's first instruction already runs inside the cgroups and
//     namespaces without privileges, and reports "started" or the exec
//     error;
//  8. stays as the namespace's init, in the manner of tini: it forwards
//     signals to the program, reaps every orphan, and when the program ends
//     reports its exact exit code or signal and exits, which makes the
//     kernel kill whatever is left in the namespace.
//
// The protocol, defined in protocol.go: the helper's arguments are
// "--cgroup FILE" (repeated), optionally "--user UID:GID", then "--" and the
// program's path and arguments;
// it inherits the program's stdout and stderr as its own, the control pipe
// as fd 3 (the server writes the go-ahead byte and keeps it open: end of
// file means the server died, and the helper kills the job) and the status
// pipe as fd 4, on which it writes one JSON event per line.
//
// This package imports nothing from the job engine or the RPC layer.
package jobexec
