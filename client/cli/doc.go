// Package cli is jobctl, the command-line client of JobManager: one file
// per command, each fetching with the generated Connect client and
// printing through print.go as a table or as JSON.
//
// Exit status: 0 on success; 1 when a command fails (one line on stderr,
// nothing on stdout); 130 when interrupted (Ctrl-C); for `jobctl run`, the
// job's exit code, or 128+N when the job was killed by signal N.
package cli
