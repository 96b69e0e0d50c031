package cli

import (
	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	jobmanagerv1 "github.com/jobmanager/jobmanager/gen/go/jobmanager/v1"
)

func newStopCommand(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:     "stop ID",
		Short:   "Stop a job",
		Long:    "Stop a job managed by the JobManager. If the job is not running, this has no effect.",
		Example: "  jobctl stop 8de11b74-5cd9-4769-b40d-53de13faf77f",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := opts.client()
			if err != nil {
				return err
			}
			if _, err := client.Stop(cmd.Context(), connect.NewRequest(&jobmanagerv1.StopRequest{JobId: args[0]})); err != nil {
				return interrupted(cmd.Context(), opts.describe(err))
			}
			return nil
		},
	}
}
