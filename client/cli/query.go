package cli

import (
	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	jobmanagerv1 "github.com/jobmanager/jobmanager/gen/go/jobmanager/v1"
)

func newQueryCommand(opts *options) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "query ID",
		Short:   "Query job state",
		Long:    "Query the state of a job managed by JobManager",
		Example: "  jobctl query ba90b623-3dae-4bdd-8b96-c1ea4a999c44",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			client, err := opts.client()
			if err != nil {
				return err
			}
			resp, err := client.Query(cmd.Context(), connect.NewRequest(&jobmanagerv1.QueryRequest{JobId: args[0]}))
			if err != nil {
				return interrupted(cmd.Context(), opts.describe(err))
			}
			if format == formatJSON {
				return printJSON(opts.stdout, resp.Msg)
			}
			printStatusTable(opts.stdout, []*jobmanagerv1.JobStatus{resp.Msg.GetStatus()}, opts.isAdministrator())
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "output", "o", formatTable, "Output format: table or json")
	return cmd
}

// administrator is the user who sees every job, so tables show owners.
const administrator = "administrator"

func (o *options) isAdministrator() bool { return o.userID == administrator }
