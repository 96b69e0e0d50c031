package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// Exit statuses besides 0 and a job's own (see the package doc).
const (
	ExitFailure     = 1
	ExitInterrupted = 130
)

// CertDirEnv overrides the default certificate directory.
const CertDirEnv = "JOBMANAGER_CERT_DIR"

// ExitError carries an exit status without a message: the command already
// said what it had to (or had nothing to say, as after Ctrl-C).
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// options are the global flags.
type options struct {
	hostPort string
	userID   string
	certDir  string
	stdout   io.Writer
	stderr   io.Writer
}

// defaultCertDir is where `go tool task certs` writes the development
// certificates: $JOBMANAGER_CERT_DIR, else ~/.config/jobmanager/certs.
func defaultCertDir() string {
	if dir := os.Getenv(CertDirEnv); dir != "" {
		return dir
	}
	config, err := os.UserConfigDir()
	if err != nil {
		return filepath.Join("jobmanager", "certs")
	}
	return filepath.Join(config, "jobmanager", "certs")
}

// NewRootCommand builds jobctl with its output going to stdout and stderr.
func NewRootCommand(stdout, stderr io.Writer) *cobra.Command {
	opts := &options{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "jobctl",
		Short: "jobctl enables users to manage JobManager jobs via the gRPC API",
		Long: `jobctl enables users to manage JobManager jobs via the gRPC API.

Credentials: --certDir holds ca.crt (the only authority trusted for the
server) and USER.crt/USER.key for each user; -u picks the pair. The default
directory is $` + CertDirEnv + `, else ~/.config/jobmanager/certs.

Exit status: 0 on success; 1 when a command fails (one line on stderr,
nothing on stdout); 130 when interrupted; for "run", the job's exit code, or
128+N when the job was killed by signal N.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&opts.hostPort, "hostPort", ":24482", "The <hostName>:<portNumber> of the jobmanager server")
	root.PersistentFlags().StringVarP(&opts.userID, "userID", "u", "client1", "The name of the user (selects the appropriate credential)")
	root.PersistentFlags().StringVar(&opts.certDir, "certDir", defaultCertDir(), "The directory holding ca.crt and the users' USER.crt/USER.key")
	root.AddCommand(
		newStartCommand(opts),
		newStopCommand(opts),
		newQueryCommand(opts),
		newListCommand(opts),
		newStreamCommand(opts),
		newRunCommand(opts),
	)
	return root
}

// Execute runs jobctl with args and returns the process's exit status.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := NewRootCommand(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var exit *ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.Code
	case ctx.Err() != nil:
		return ExitInterrupted
	}
	fmt.Fprintln(stderr, "jobctl:", err)
	return ExitFailure
}
