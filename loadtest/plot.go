package loadtest

import (
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strings"
)

// PlotPoint is one case of the scale series: streams, and the median figures.
type PlotPoint struct {
	Streams           int
	P99Ms             *float64
	RSSBytesPerStream *float64
}

// ScaleSeries picks the scale cases' medians out of suite results, by number of streams.
func ScaleSeries(res SuiteResults) []PlotPoint {
	var pts []PlotPoint
	for _, c := range res.Cases {
		if !c.Scale {
			continue
		}
		p := PlotPoint{Streams: c.Clients}
		if v, ok := c.Median["p99_ms"].(float64); ok {
			p.P99Ms = &v
		}
		if v, ok := c.Median["rss_bytes_per_stream"].(float64); ok {
			p.RSSBytesPerStream = &v
		}
		pts = append(pts, p)
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].Streams < pts[j].Streams })
	return pts
}

// WritePlot draws two charts side by side as one standalone SVG: p99 latency and server RSS
// per stream, each against the number of streams on a log axis. title goes on top.
func WritePlot(w io.Writer, title string, pts []PlotPoint) error {
	const (
		width, height = 960, 400
		top, bottom   = 60, 60
		left, gap     = 60, 80
		panelW        = (width - left - gap - 20) / 2
	)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	b.WriteString(`<rect width="100%" height="100%" fill="#fff"/>` + "\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="16" text-anchor="middle">%s</text>`+"\n", width/2, html.EscapeString(title))

	var xs []float64
	for _, p := range pts {
		xs = append(xs, float64(p.Streams))
	}
	panels := []struct {
		label string
		color string
		value func(PlotPoint) *float64
		unit  string
	}{
		{"p99 latency (ms)", "#c0392b", func(p PlotPoint) *float64 { return p.P99Ms }, "ms"},
		{"server RSS per stream (KiB)", "#2471a3", func(p PlotPoint) *float64 {
			if p.RSSBytesPerStream == nil {
				return nil
			}
			v := *p.RSSBytesPerStream / 1024
			return &v
		}, "KiB"},
	}
	for i, pn := range panels {
		x0 := float64(left + i*(panelW+gap))
		x1 := x0 + panelW
		y0, y1 := float64(height-bottom), float64(top)
		var ys []float64
		for _, p := range pts {
			if v := pn.value(p); v != nil {
				ys = append(ys, *v)
			}
		}
		ymax := niceCeil(maxOf(ys) * 1.15)
		xmin, xmax := 800.0, 25000.0
		if len(xs) > 0 {
			xmin, xmax = math.Min(xmin, xs[0]*0.8), math.Max(xmax, xs[len(xs)-1]*1.3)
		}
		sx := func(v float64) float64 {
			return x0 + (math.Log(v)-math.Log(xmin))/(math.Log(xmax)-math.Log(xmin))*(x1-x0)
		}
		sy := func(v float64) float64 { return y0 - v/ymax*(y0-y1) }

		fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle" font-size="13">%s</text>`+"\n", (x0+x1)/2, top-14, pn.label)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", x0, y0, x1, y0)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", x0, y0, x0, y1)
		for k := 0; k <= 4; k++ {
			v := ymax * float64(k) / 4
			y := sy(v)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x0, y, x1, y)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, y+4, trimFloat(v))
		}
		for _, x := range xs {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", sx(x), y0+18, streamsLabel(int(x)))
		}
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">streams</text>`+"\n", (x0+x1)/2, y0+40)
		var path []string
		for _, p := range pts {
			v := pn.value(p)
			if v == nil {
				continue
			}
			x, y := sx(float64(p.Streams)), sy(*v)
			path = append(path, fmt.Sprintf("%.1f,%.1f", x, y))
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%d streams: %s %s</title></circle>`+"\n",
				x, y, pn.color, p.Streams, trimFloat(*v), pn.unit)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="%s">%s</text>`+"\n", x, y-9, pn.color, trimFloat(*v))
		}
		if len(path) > 1 {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(path, " "), pn.color)
		}
		if len(path) == 0 {
			fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle" fill="#888">no data</text>`+"\n", (x0+x1)/2, (y0+y1)/2)
		}
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func maxOf(vs []float64) float64 {
	m := 0.0
	for _, v := range vs {
		m = math.Max(m, v)
	}
	if m <= 0 {
		return 1
	}
	return m
}

// niceCeil rounds v up to a round number for an axis: 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or
// 8 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0")
	default:
		s := strings.TrimRight(fmt.Sprintf("%.2f", v), "0")
		return strings.TrimSuffix(s, ".")
	}
}

func streamsLabel(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}
