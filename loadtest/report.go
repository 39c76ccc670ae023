package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// WriteJSON writes r as one JSON object on one line.
func WriteJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode the result: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// WriteTable writes r for people.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(name, value string) { fmt.Fprintf(tw, "%s\t%s\n", name, value) }
	row("connections ok", strconv.Itoa(r.ConnectionsOK))
	row("connections failed", strconv.Itoa(r.ConnectionsFailed))
	row("connections lost", strconv.Itoa(r.ConnectionsLost))
	for _, k := range sortedKeys(r.Failures) {
		row("  "+k, strconv.Itoa(r.Failures[k]))
	}
	row("measured", fmt.Sprintf("%.1f s", r.DurationS))
	row("events", fmt.Sprintf("%d (%.1f/s)", r.EventsTotal, r.EventsPerSecond))
	row("bytes", fmt.Sprintf("%s/s", humanBytes(r.BytesPerSecond)))
	row("latency p50", fmt.Sprintf("%.1f ms", r.P50Ms))
	row("latency p99", fmt.Sprintf("%.1f ms", r.P99Ms))
	row("latency max", fmt.Sprintf("%.1f ms", r.MaxMs))
	row("server RSS", optional(r.ServerRSSBytes, func(v int64) string { return humanBytes(float64(v)) }))
	row("server goroutines", optional(r.ServerGoroutines, func(v int64) string { return strconv.FormatInt(v, 10) }))
	row("server RSS per stream", optional(r.RSSBytesPerStream, func(v float64) string { return humanBytes(v) }))
	row("server CPU per event", optional(r.CPUUsPerEvent, func(v float64) string { return fmt.Sprintf("%.2f µs", v) }))
	row("dropped messages", optional(r.DroppedMessages, func(v int64) string { return strconv.FormatInt(v, 10) }))
	row("feed ticks", optional(r.FeedTicksPerSecond, func(v float64) string { return fmt.Sprintf("%.0f/s", v) }))
	row("feed symbols", optional(r.FeedSymbols, func(v int64) string { return strconv.FormatInt(v, 10) }))
	row("server heap", optional(r.ServerHeapBytes, func(v int64) string { return humanBytes(float64(v)) }))
	row("bench CPU per event", fmt.Sprintf("%.2f µs", r.ClientCPUUsPerEvent))
	return tw.Flush()
}

func optional[T any](p *T, format func(T) string) string {
	if p == nil {
		return "n/a"
	}
	return format(*p)
}

func humanBytes(v float64) string {
	neg := ""
	if v < 0 {
		neg, v = "-", -v
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%s%.0f B", neg, v)
	}
	return fmt.Sprintf("%s%.1f %s", neg, v, units[i])
}
