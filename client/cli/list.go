package cli

import (
	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	jobmanagerv1 "github.com/jobmanager/jobmanager/gen/go/jobmanager/v1"
)

// listPageSize is the page size jobctl asks for; it fetches every page.
const listPageSize = 500

func newListCommand(opts *options) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List jobs",
		Long:    "List jobs managed by the JobManager: your own, or every job for the administrator, oldest first",
		Example: "  jobctl list\n  jobctl -u administrator list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			client, err := opts.client()
			if err != nil {
				return err
			}
			all := &jobmanagerv1.ListResponse{}
			token := ""
			for {
				resp, err := client.List(cmd.Context(), connect.NewRequest(&jobmanagerv1.ListRequest{PageSize: listPageSize, PageToken: token}))
				if err != nil {
					return interrupted(cmd.Context(), opts.describe(err))
				}
				all.Jobs = append(all.Jobs, resp.Msg.GetJobs()...)
				if token = resp.Msg.GetNextPageToken(); token == "" {
					break
				}
			}
			if format == formatJSON {
				return printJSON(opts.stdout, all)
			}
			printStatusTable(opts.stdout, all.GetJobs(), opts.isAdministrator())
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "output", "o", formatTable, "Output format: table or json")
	return cmd
}
