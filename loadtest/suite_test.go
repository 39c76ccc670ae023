package loadtest

import (
	"bytes"
	"encoding/xml"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestMedians(t *testing.T) {
	runs := []map[string]any{
		{"p99_ms": 30.0, "cpu_us_per_event": nil, "server_rss_bytes": 100.0, "failures": map[string]any{}},
		{"p99_ms": 10.0, "cpu_us_per_event": nil, "server_rss_bytes": nil},
		{"p99_ms": 20.0, "cpu_us_per_event": nil, "server_rss_bytes": 300.0},
	}
	got := Medians(runs)
	want := map[string]any{"p99_ms": 20.0, "cpu_us_per_event": nil, "server_rss_bytes": 200.0, "failures": nil}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Medians = %v, want %v", got, want)
	}
	rates := []RateResult{
		{Paths: []PathRate{{RatioToFirst: 1}, {RatioToFirst: 0.5}}},
		{Paths: []PathRate{{RatioToFirst: 1}, {RatioToFirst: 0.3}}},
		{Paths: []PathRate{{RatioToFirst: 1}, {RatioToFirst: 0.4}}},
		{Paths: []PathRate{{RatioToFirst: 1}}}, // one path: no ratio
	}
	if got := MedianRatio(rates); got != 0.4 {
		t.Fatalf("MedianRatio = %v, want 0.4", got)
	}
}

func TestStandardCases(t *testing.T) {
	var scale []int
	for _, c := range StandardCases() {
		if c.Users*MaxStreamsPerUser < c.Clients || c.Groups > c.Users {
			t.Errorf("%s: %d streams over %d users in %d groups cannot run", c.Name, c.Clients, c.Users, c.Groups)
		}
		if c.Scale {
			scale = append(scale, c.Clients)
		}
	}
	if !reflect.DeepEqual(scale, []int{1000, 2000, 5000, 10000, 19000}) {
		t.Fatalf("scale series %v", scale)
	}
}

// TestWritePlot checks the SVG is well-formed XML, has a point per known figure (a null
// is left out), escapes the title, and keeps every point inside the drawing.
func TestWritePlot(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	res := SuiteResults{Cases: []CaseResults{
		{Case: Case{Clients: 10000, Scale: true}, Median: map[string]any{"p99_ms": 243.0, "rss_bytes_per_stream": 65536.0}},
		{Case: Case{Clients: 1000, Scale: true}, Median: map[string]any{"p99_ms": 56.5, "rss_bytes_per_stream": nil}},
		{Case: Case{Clients: 10000}, Median: map[string]any{"p99_ms": 999.0}}, // not in the series
	}}
	pts := ScaleSeries(res)
	if len(pts) != 2 || pts[0].Streams != 1000 || *pts[1].P99Ms != 243 || pts[0].RSSBytesPerStream != nil {
		t.Fatalf("ScaleSeries = %+v", pts)
	}
	pts = append(pts, PlotPoint{Streams: 19000, P99Ms: f(480), RSSBytesPerStream: f(40000)})
	var b bytes.Buffer
	if err := WritePlot(&b, `p99 & RSS <test>`, pts); err != nil {
		t.Fatal(err)
	}
	circles, texts := 0, []string{}
	dec := xml.NewDecoder(&b)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if el.Name.Local == "circle" {
				circles++
				for _, a := range el.Attr {
					if a.Name.Local == "cx" && (a.Value < "0" || strings.HasPrefix(a.Value, "-")) {
						t.Errorf("point outside the drawing: cx=%s", a.Value)
					}
				}
			}
		case xml.CharData:
			texts = append(texts, string(el))
		}
	}
	if circles != 5 { // 3 p99 points, 2 RSS points
		t.Fatalf("%d points drawn, want 5", circles)
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"p99 & RSS <test>", "243", "64", "1k", "19k"} {
		if !strings.Contains(all, want) {
			t.Errorf("plot text lacks %q", want)
		}
	}
}
