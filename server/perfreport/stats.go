//go:build perfreport

package main

import (
	"fmt"
	"slices"
	"time"
)

// durations collects timings.
type durations []time.Duration

func (d durations) quantile(q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sorted := slices.Clone(d)
	slices.Sort(sorted)
	i := int(q * float64(len(sorted)-1))
	return sorted[i]
}

func (d durations) median() time.Duration { return d.quantile(0.5) }

// timeRuns runs f n times (after one warm-up run), each after pause (not
// timed), and returns the timings.
func timeRuns(n int, pause time.Duration, f func() error) (durations, error) {
	if err := f(); err != nil {
		return nil, err
	}
	var d durations
	for range n {
		time.Sleep(pause)
		start := time.Now()
		if err := f(); err != nil {
			return nil, err
		}
		d = append(d, time.Since(start))
	}
	return d, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) / d.Seconds() / 1e6 }
