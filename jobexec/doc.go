// Package jobexec is the small helper that runs a job's program inside the
// job's cgroups and namespaces, and the server's side of its protocol.
//
// The server starts the jobexec binary in new PID, mount and network
// namespaces, with an environment of its own (not the server's) and with
// PR_SET_PDEATHSIG, either for one job (Launch) or ahead of time (Pool).
// The helper (Main, running as PID 1 of the new PID namespace) then, in
// this order:
//
//  1. makes "/" a recursive slave mount, so that nothing it mounts leaks out;
//  2. mounts a fresh /proc that shows only the job's processes;
//  3. brings the loopback interface up (the only interface in the namespace);
//  4. waits for its job on the control socket: the program, its arguments
//     and environment, the user to run it as, the cgroup.procs files to
//     join, and the program's stdout and stderr as descriptors;
//  5. reports "received" (a helper that dies before that never had the
//     job, which the server can then give to another helper), takes the
//     descriptors as its own stdout and stderr and writes itself into the
//     cgroup.procs file of each of the job's cgroups;
//  6. for an unprivileged job, sets no_new_privs and empties the capability
//     bounding set (both inherited by the program);
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
// Steps 1 to 3 do not depend on the job, which is what lets a Pool run them
// before there is a job. Nothing of the program runs before step 7. The
// server sends the job only once everything the job needs on its side
// exists (records, output logs, cgroups), so there is no go-ahead to wait
// for: the job is the go-ahead.
//
// The protocol, defined in protocol.go: the helper takes no arguments; it
// has /dev/null as stdin (and as stdout and stderr until step 5), a Unix
// stream socket as fd 3 (the control socket) and a pipe as fd 4 (the
// status pipe). On the control socket the server sends the job (a 4-byte
// big-endian length carrying the two output descriptors as SCM_RIGHTS,
// then that many bytes of JSON) and keeps it open: end of file means the
// server died (the helper kills the job) or, before a job came, that the
// helper is not needed (it exits 0). On the status pipe the helper writes
// one JSON event per line.
//
// This package imports nothing from the job engine or the RPC layer.
package jobexec
