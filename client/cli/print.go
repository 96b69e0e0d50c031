package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/jedib0t/go-pretty/v6/table"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	jobmanagerv1 "github.com/jobmanager/jobmanager/gen/go/jobmanager/v1"
)

// Output formats of -o/--output.
const (
	formatTable = "table"
	formatJSON  = "json"
)

func checkFormat(format string) error {
	if format != formatTable && format != formatJSON {
		return fmt.Errorf("invalid --output %q: use table or json", format)
	}
	return nil
}

// printJSON prints msg as protojson with every field emitted. protojson
// varies its whitespace on purpose; the output is re-indented so that it is
// the same from run to run for the scripts that read it.
func printJSON(w io.Writer, msg proto.Message) error {
	data, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, data, "", "  "); err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	out.WriteByte('\n')
	_, err = w.Write(out.Bytes())
	return err
}

func newTable(w io.Writer) table.Writer {
	t := table.NewWriter()
	t.SetOutputMirror(w)
	t.SetStyle(table.StyleDefault)
	return t
}

// printJobTable prints the NAME/ID table of a started job.
func printJobTable(w io.Writer, job *jobmanagerv1.Job) {
	t := newTable(w)
	t.AppendHeader(table.Row{"NAME", "ID"})
	t.AppendRow(table.Row{job.GetName(), job.GetId()})
	t.Render()
}

// printStatusTable prints jobs as the seed's design shows them, with an
// OWNER column first for the administrator.
func printStatusTable(w io.Writer, statuses []*jobmanagerv1.JobStatus, withOwner bool) {
	t := newTable(w)
	header := table.Row{"NAME", "ID", "STATE", "RUNNING", "PID", "EXIT CODE", "SIGNAL", "ERROR"}
	if withOwner {
		header = append(table.Row{"OWNER"}, header...)
	}
	t.AppendHeader(header)
	for _, s := range statuses {
		row := table.Row{
			s.GetJob().GetName(), s.GetJob().GetId(), stateName(s.GetState()),
			strconv.FormatBool(s.GetIsRunning()), s.GetPid(), s.GetExitCode(), s.GetSignalNumber(), s.GetErrorMessage(),
		}
		if withOwner {
			row = append(table.Row{s.GetOwner()}, row...)
		}
		t.AppendRow(row)
	}
	t.Render()
}

var stateNames = map[jobmanagerv1.JobState]string{
	jobmanagerv1.JobState_JOB_STATE_RUNNING:         "running",
	jobmanagerv1.JobState_JOB_STATE_EXITED:          "exited",
	jobmanagerv1.JobState_JOB_STATE_KILLED:          "killed",
	jobmanagerv1.JobState_JOB_STATE_FAILED_TO_START: "failed to start",
	jobmanagerv1.JobState_JOB_STATE_LOST:            "lost",
}

func stateName(s jobmanagerv1.JobState) string {
	if name, ok := stateNames[s]; ok {
		return name
	}
	return "unknown"
}
