package cli

import (
	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	jobmanagerv1 "github.com/jobmanager/jobmanager/gen/go/jobmanager/v1"
)

func newRunCommand(opts *options) *cobra.Command {
	var job jobFlags
	cmd := &cobra.Command{
		Use:   "run [flags] -- [ARGS...]",
		Short: "Start a job, stream its output and exit with its status",
		Long: `Starts a job, streams its stdout and stderr live to this terminal's stdout
and stderr, and exits with the job's exit code (128+N when it was killed by
signal N), as "docker run" does. Ctrl-C stops following the job; the job
itself keeps running (stop it with "jobctl stop").`,
		Example: "  jobctl run -j count -c /bin/sh -- -c 'for i in 1 2 3; do echo $i; sleep 1; done'",
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := job.request(args)
			if err != nil {
				return err
			}
			client, err := opts.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			started, err := client.Start(ctx, connect.NewRequest(req))
			if err != nil {
				return interrupted(ctx, opts.describe(err))
			}
			id := started.Msg.GetJob().GetId()
			var streams errgroup.Group
			streams.Go(func() error {
				return copyOutput(ctx, client, id, jobmanagerv1.OutputStream_OUTPUT_STREAM_STDOUT, opts.stdout)
			})
			streams.Go(func() error {
				return copyOutput(ctx, client, id, jobmanagerv1.OutputStream_OUTPUT_STREAM_STDERR, opts.stderr)
			})
			if err := streams.Wait(); err != nil {
				return interrupted(ctx, opts.describe(err))
			}
			// Both streams are complete only once the job has ended.
			final, err := client.Query(ctx, connect.NewRequest(&jobmanagerv1.QueryRequest{JobId: id}))
			if err != nil {
				return interrupted(ctx, opts.describe(err))
			}
			if code := exitStatus(final.Msg.GetStatus()); code != 0 {
				return &ExitError{Code: code}
			}
			return nil
		},
	}
	job.register(cmd)
	return cmd
}

// exitStatus is the status a shell would give the job's program.
func exitStatus(s *jobmanagerv1.JobStatus) int {
	switch {
	case s.GetSignalNumber() != 0:
		return 128 + int(s.GetSignalNumber())
	case s.GetState() == jobmanagerv1.JobState_JOB_STATE_FAILED_TO_START, s.GetState() == jobmanagerv1.JobState_JOB_STATE_LOST:
		return ExitFailure
	}
	return int(s.GetExitCode())
}
