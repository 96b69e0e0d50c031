package cli

import (
	"fmt"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/jobmanager/jobmanager/client/units"
	jobmanagerv1 "github.com/jobmanager/jobmanager/gen/go/jobmanager/v1"
)

// jobFlags are the flags that describe a job, shared by start and run.
type jobFlags struct {
	name, command           string
	cpus                    float64
	memory, ioRead, ioWrite string
	pids                    int64
}

func (f *jobFlags) register(cmd *cobra.Command) {
	flags := cmd.Flags()
	flags.StringVarP(&f.name, "jobName", "j", "", "The name of the job to create; must be unique")
	flags.StringVarP(&f.command, "command", "c", "", "The command for the job to run; must supply full path")
	flags.Float64Var(&f.cpus, "cpu", 0, "CPUs the job may use, e.g. 1.5 (default: the server's)")
	flags.StringVar(&f.memory, "memory", "", "Memory limit, e.g. 512MiB or 1G (default: the server's)")
	flags.Int64Var(&f.pids, "pids", 0, "Most processes the job may have at once (default: the server's)")
	flags.StringVar(&f.ioRead, "io-read-bps", "", "Disk read limit per second, e.g. 20MiB (default: the server's)")
	flags.StringVar(&f.ioWrite, "io-write-bps", "", "Disk write limit per second, e.g. 20MiB (default: the server's)")
	_ = cmd.MarkFlagRequired("jobName")
	_ = cmd.MarkFlagRequired("command")
}

// request builds the StartRequest, checking what can be checked here.
func (f *jobFlags) request(args []string) (*jobmanagerv1.StartRequest, error) {
	if f.cpus < 0 || f.pids < 0 {
		return nil, fmt.Errorf("--cpu and --pids must not be negative")
	}
	limits := &jobmanagerv1.ResourceLimits{Cpus: f.cpus, Pids: f.pids}
	for _, size := range []struct {
		flag, value string
		into        *int64
	}{{"--memory", f.memory, &limits.MemoryBytes}, {"--io-read-bps", f.ioRead, &limits.IoReadBps}, {"--io-write-bps", f.ioWrite, &limits.IoWriteBps}} {
		if size.value == "" {
			continue
		}
		v, err := units.ParseBytes(size.value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", size.flag, err)
		}
		*size.into = v
	}
	return &jobmanagerv1.StartRequest{Name: f.name, ProgramPath: f.command, Arguments: args, Limits: limits}, nil
}

func newStartCommand(opts *options) *cobra.Command {
	var job jobFlags
	var format string
	cmd := &cobra.Command{
		Use:     "start [flags] -- [ARGS...]",
		Short:   "Start a new job",
		Long:    "Starts a new job with the given parameters on the JobManager",
		Example: "  jobctl start -j myJob -c /usr/bin/find -- /dir -type f\n  jobctl start -j build -c /usr/bin/make --cpu 1.5 --memory 512MiB -- -j4",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			req, err := job.request(args)
			if err != nil {
				return err
			}
			client, err := opts.client()
			if err != nil {
				return err
			}
			resp, err := client.Start(cmd.Context(), connect.NewRequest(req))
			if err != nil {
				return interrupted(cmd.Context(), opts.describe(err))
			}
			if format == formatJSON {
				return printJSON(opts.stdout, resp.Msg)
			}
			printJobTable(opts.stdout, resp.Msg.GetJob())
			return nil
		},
	}
	job.register(cmd)
	cmd.Flags().StringVarP(&format, "output", "o", formatTable, "Output format: table or json")
	return cmd
}
