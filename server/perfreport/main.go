//go:build perfreport

// Command perfreport measures JobManager side by side with the tools its
// users would pick instead, on this machine, and prints (and writes as
// Markdown, and into README.md between its perf markers) a table of
// medians and ratios. `go tool task bench` runs it after the Go benchmarks;
// the comparison tools come from Debian packages that task installs.
//
// It is built only with -tags perfreport, so that `go build ./...` still
// produces exactly the three product binaries.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

func main() {
	binDir := flag.String("bin", "bin", "directory holding jobmanager, jobctl and jobexec")
	out := flag.String("out", "bench-report.md", "Markdown report to write")
	readme := flag.String("readme", "README.md", "README whose perf section is replaced (empty: leave it)")
	runs := flag.Int("runs", 30, "runs per start-to-exit measurement")
	only := flag.String("only", "", "run only this section (start, streaming, control, memory) and leave the README alone")
	flag.Parse()
	if *only != "" {
		*readme = ""
	}
	if err := run(*binDir, *out, *readme, *runs, *only); err != nil {
		fmt.Fprintln(os.Stderr, "perfreport:", err)
		os.Exit(1)
	}
}

// section is one table of the report.
type section struct {
	title  string
	header []string
	rows   [][]string
	notes  []string
}

// measurements are the report's sections, in order, by name.
var measurements = []struct {
	name    string
	measure func(*environment, int) (section, error)
}{
	{"start", measureStartToExit},
	{"streaming", measureStreaming},
	{"control", measureControlPlane},
	{"memory", measureMemory},
}

func run(binDir, out, readme string, runs int, only string) error {
	env, err := newEnvironment(binDir)
	if err != nil {
		return err
	}
	defer env.close()
	var sections []section
	for _, m := range measurements {
		if only != "" && m.name != only {
			continue
		}
		s, err := m.measure(env, runs)
		if err != nil {
			return err
		}
		sections = append(sections, s)
		fmt.Println(render([]section{s}))
		_ = os.Stdout.Sync()
	}
	report := fmt.Sprintf("Measured %s on %s (%d CPUs, %s), kernel %s, cgroup %s.\n\n%s",
		time.Now().UTC().Format("2006-01-02"), hostname(), runtime.NumCPU(), memoryTotal(), kernel(), env.cgroupMode, render(sections))
	if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
		return err
	}
	if readme != "" {
		return replaceSection(readme, report)
	}
	return nil
}

func render(sections []section) string {
	var b strings.Builder
	for _, s := range sections {
		fmt.Fprintf(&b, "#### %s\n\n| %s |\n|%s\n", s.title, strings.Join(s.header, " | "), strings.Repeat(" --- |", len(s.header)))
		for _, row := range s.rows {
			fmt.Fprintf(&b, "| %s |\n", strings.Join(row, " | "))
		}
		for _, note := range s.notes {
			fmt.Fprintf(&b, "\n%s\n", note)
		}
		b.WriteString("\n")
	}
	return b.String()
}

const (
	beginMarker = "<!-- perf:begin -->"
	endMarker   = "<!-- perf:end -->"
)

// replaceSection puts report between the perf markers of the README.
func replaceSection(path, report string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	text := string(data)
	begin, end := strings.Index(text, beginMarker), strings.Index(text, endMarker)
	if begin < 0 || end < begin {
		return fmt.Errorf("%s has no %s ... %s section", path, beginMarker, endMarker)
	}
	text = text[:begin+len(beginMarker)] + "\n" + report + text[end:]
	return os.WriteFile(path, []byte(text), 0o644)
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

func kernel() string {
	data, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(data))
}

func memoryTotal() string {
	data, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb int64
			fmt.Sscan(rest, &kb)
			return fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
		}
	}
	return "unknown memory"
}
