package market

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/sample.csv and testdata/sample.golden.json")

const (
	samplePath   = "testdata/sample.csv"
	goldenPath   = "testdata/sample.golden.json"
	sampleSecs   = 900
	sampleSeed   = 20250314
	sampleLayout = "2006-01-02T15:04:05.000Z"
)

// writeSample makes the sample replay file: four symbols, one tick a second each, over 15
// minutes from 10:30 New York time, scripted so every kind of event shows up:
//   - AAPL drifts flat for 10 minutes, then climbs 1.5 % (trend up, highs);
//   - XOM does the same downwards (trend down, lows);
//   - PLUG, a $3 stock, jumps 8 % in 10 s on 20x volume at 5:00 (surge up);
//   - NVDA drops 4 % in 8 s on 15x volume at 7:30 (surge down). Its lines use Unix
//     milliseconds, the other format the replay accepts.
func writeSample(path string) error {
	rng := rand.New(rand.NewPCG(sampleSeed, 1))
	start := time.Date(2025, 3, 14, 14, 30, 0, 0, time.UTC)
	type sym struct {
		name   string
		price  float64
		vol    float64
		offMs  int
		unixMs bool
		move   func(s int) float64 // scripted return at second s
		volX   func(s int) float64 // volume multiplier at second s
	}
	one := func(int) float64 { return 1 }
	spell := func(from, to int, total float64) func(int) float64 {
		return func(s int) float64 {
			if s >= from && s < to {
				return total / float64(to-from)
			}
			return 0
		}
	}
	window := func(from, to int, x float64) func(int) float64 {
		return func(s int) float64 {
			if s >= from && s < to {
				return x
			}
			return 1
		}
	}
	syms := []sym{
		{"AAPL", 212.40, 900, 100, false, spell(600, 900, 0.015), one},
		{"XOM", 110.25, 600, 350, false, spell(600, 900, -0.015), one},
		{"PLUG", 3.21, 5000, 600, false, spell(300, 310, 0.08), window(300, 310, 20)},
		{"NVDA", 118.70, 3000, 850, true, spell(450, 458, -0.04), window(450, 458, 15)},
	}
	var buf bytes.Buffer
	buf.WriteString(ReplayHeader + "\n")
	for s := 0; s < sampleSecs; s++ {
		for i := range syms {
			y := &syms[i]
			y.price *= math.Exp(y.move(s) + 0.00008*rng.NormFloat64())
			p := math.Round(y.price*100) / 100
			v := int64(y.vol*y.volX(s)*math.Exp(0.4*rng.NormFloat64())) + 1
			ts := start.Add(time.Duration(s)*time.Second + time.Duration(y.offMs)*time.Millisecond)
			if y.unixMs {
				buf.WriteString(strconvItoa(ts.UnixMilli()))
			} else {
				buf.WriteString(ts.Format(sampleLayout))
			}
			buf.WriteString("," + y.name + "," + strconvFloat(p) + "," + strconvItoa(v) + "\n")
		}
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// mustReplayEvents replays path as fast as possible through a fresh engine.
func mustReplayEvents(tb testing.TB, path string) []Event {
	tb.Helper()
	f, err := NewReplayFeed(path, 0, false, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ticks := make(chan Tick, 1024)
	errc := make(chan error, 1)
	go func() { errc <- f.Run(context.Background(), ticks); close(ticks) }()
	e := NewEngine(nil)
	var evs []Event
	for t := range ticks {
		evs = e.Process(t, evs)
	}
	if err := <-errc; err != nil {
		tb.Fatal(err)
	}
	return evs
}

func encodeEvents(tb testing.TB, evs []Event) []byte {
	tb.Helper()
	var buf bytes.Buffer
	buf.WriteString("[\n")
	for i, e := range evs {
		b, err := json.Marshal(e)
		if err != nil {
			tb.Fatal(err)
		}
		buf.Write(b)
		if i < len(evs)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString("]\n")
	return buf.Bytes()
}

func TestSampleGolden(t *testing.T) {
	if *update {
		if err := writeSample(samplePath); err != nil {
			t.Fatal(err)
		}
	}
	first := encodeEvents(t, mustReplayEvents(t, samplePath))
	second := encodeEvents(t, mustReplayEvents(t, samplePath))
	if !bytes.Equal(first, second) {
		t.Fatal("two replays of the sample gave different events")
	}
	if *update {
		if err := os.WriteFile(goldenPath, first, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (run go test ./market -run TestSampleGolden -update)", err)
	}
	if !bytes.Equal(first, golden) {
		t.Fatalf("replay events differ from %s (if the change is meant, rerun with -update)", goldenPath)
	}
	var evs []Event
	if err := json.Unmarshal(golden, &evs); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range evs {
		seen[panel(e)]++
	}
	for _, p := range []string{"high", "low", "trend-up", "trend-down", "surge-up", "surge-down"} {
		if seen[p] == 0 {
			t.Errorf("sample has no %s event", p)
		}
	}
	t.Logf("sample events by panel: %v", seen)
}

func TestParseTickRecord(t *testing.T) {
	ms := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	ok := []struct {
		line string
		want Tick
	}{
		{"2025-03-14T14:30:00Z,AAPL,212.31,1200", Tick{"AAPL", 212.31, 1200, ms("2025-03-14T14:30:00Z")}},
		{"2025-03-14T10:30:00.250-04:00,BRK.B,412.5,0", Tick{"BRK.B", 412.5, 0, ms("2025-03-14T14:30:00.250Z")}},
		{"1741962600250,MSFT,388.02,800", Tick{"MSFT", 388.02, 800, ms("2025-03-14T14:30:00.250Z")}},
		{" 1741962600250 , msft , 388.02 , 800 \r", Tick{"MSFT", 388.02, 800, ms("2025-03-14T14:30:00.250Z")}},
		{`"2025-03-14T14:30:00Z","SPY","560.1","5"`, Tick{"SPY", 560.1, 5, ms("2025-03-14T14:30:00Z")}},
		{"2025-03-14T14:30:00.123456789Z,X,1e2,1", Tick{"X", 100, 1, ms("2025-03-14T14:30:00.123456789Z")}},
	}
	for _, tt := range ok {
		got, err := ParseTickRecord([]byte(tt.line))
		if err != nil || got != tt.want {
			t.Errorf("ParseTickRecord(%q) = %+v, %v; want %+v", tt.line, got, err, tt.want)
		}
	}
	bad := []struct{ line, errPart string }{
		{"", "fields"},
		{"2025-03-14T14:30:00Z,AAPL,212.31", "fields"},
		{"2025-03-14T14:30:00Z,AAPL,212.31,1,extra", "too many"},
		{",AAPL,1,1", "time"},
		{"yesterday,AAPL,1,1", "time"},
		{"2025-03-14 14:30:00,AAPL,1,1", "time"},
		{"-1741962600250,AAPL,1,1", "time"},
		{"0,AAPL,1,1", "time"},
		{"99999999999999999999,AAPL,1,1", "time"},
		{"1969-12-31T23:59:59Z,AAPL,1,1", "time"},
		{"1741962600250,,1,1", "symbol"},
		{"1741962600250,AA PL,1,1", "symbol"},
		{"1741962600250,ABCDEFGHIJKLMNOPQ,1,1", "symbol"},
		{"1741962600250,AAPL$,1,1", "symbol"},
		{"1741962600250,AAPL,0,1", "price"},
		{"1741962600250,AAPL,-1,1", "price"},
		{"1741962600250,AAPL,NaN,1", "price"},
		{"1741962600250,AAPL,Inf,1", "price"},
		{"1741962600250,AAPL,1e400,1", "price"},
		{"1741962600250,AAPL,abc,1", "price"},
		{"1741962600250,AAPL,1,-1", "volume"},
		{"1741962600250,AAPL,1,1.5", "volume"},
		{"1741962600250,AAPL,1,", "volume"},
	}
	for _, tt := range bad {
		_, err := ParseTickRecord([]byte(tt.line))
		if err == nil || !strings.Contains(err.Error(), tt.errPart) {
			t.Errorf("ParseTickRecord(%q) error %v, want one about %s", tt.line, err, tt.errPart)
		}
	}
}

func FuzzParseTickRecord(f *testing.F) {
	for _, s := range []string{
		"2025-03-14T14:30:00Z,AAPL,212.31,1200",
		"1741962600250,MSFT,388.02,800",
		`"2025-03-14T10:30:00.250-04:00","brk.b","1e2","0"`,
		"1741962600250,AAPL,1,-1",
		",,,",
		"\xff,\x00,1,1",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		tk, err := ParseTickRecord(line)
		if err != nil {
			return
		}
		if !ValidSymbol(tk.Symbol) || !(tk.Price > 0) || math.IsInf(tk.Price, 0) || tk.Volume < 0 ||
			tk.Time.UnixMilli() <= 0 {
			t.Fatalf("accepted a bad tick %+v from %q", tk, line)
		}
		// What AppendTickRecord writes parses back to the same tick (at ms precision).
		rec := AppendTickRecord(nil, tk)
		back, err := ParseTickRecord(rec)
		if err != nil {
			t.Fatalf("reparse %q: %v", rec, err)
		}
		if back.Symbol != tk.Symbol || back.Price != tk.Price || back.Volume != tk.Volume ||
			back.Time.UnixMilli() != tk.Time.UnixMilli() {
			t.Fatalf("round trip %+v -> %q -> %+v", tk, rec, back)
		}
	})
}

// logRecords captures slog records as decoded JSON objects.
type logRecords struct{ buf bytes.Buffer }

func (l *logRecords) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(&l.buf, nil)) }

func (l *logRecords) all(tb testing.TB) []map[string]any {
	tb.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			tb.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func mustWriteFile(tb testing.TB, content string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "ticks.csv")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// mustCollect runs a feed until it returns or n ticks arrived, then stops it.
func mustCollect(tb testing.TB, f Feed, n int, timeout time.Duration) ([]Tick, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ch := make(chan Tick)
	errc := make(chan error, 1)
	go func() { errc <- f.Run(ctx, ch) }()
	var out []Tick
	for {
		select {
		case t := <-ch:
			out = append(out, t)
			if len(out) == n {
				cancel()
				return out, <-errc
			}
		case err := <-errc:
			return out, err
		}
	}
}

func TestReplayBadLines(t *testing.T) {
	path := mustWriteFile(t, "\xef\xbb\xbfTime, Symbol, Price, Volume\r\n"+
		"2025-03-14T14:30:00Z,AAPL,212.31,1200\r\n"+
		"garbage\r\n"+
		"\r\n"+
		"1741962601000,MSFT,388.02,800\r\n"+
		"2025-03-14T14:30:00Z,AAPL,212.00,1\r\n"+ // before the previous line
		"1741962602000,MSFT,-3,800\r\n"+
		strings.Repeat("x", 5000)+"\n"+
		"1741962603000,AAPL,213,5") // no final newline
	var logs logRecords
	f, err := NewReplayFeed(path, 0, false, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	ticks, err := mustCollect(t, f, -1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tk := range ticks {
		got = append(got, tk.Symbol+"@"+tk.Time.Format("15:04:05"))
	}
	want := []string{"AAPL@14:30:00", "MSFT@14:30:01", "AAPL@14:30:03"}
	if !slices.Equal(got, want) {
		t.Fatalf("ticks %v, want %v", got, want)
	}
	var badLines []float64
	for _, r := range logs.all(t) {
		if r["msg"] == "replay: bad line skipped" {
			badLines = append(badLines, r["line"].(float64))
			if r["file"] != path || r["err"] == "" {
				t.Errorf("log record lacks file or err: %v", r)
			}
		}
	}
	if !slices.Equal(badLines, []float64{3, 6, 7, 8}) {
		t.Fatalf("bad lines logged %v, want [3 6 7 8]", badLines)
	}
}

func TestNewReplayFeedErrors(t *testing.T) {
	good := mustWriteFile(t, ReplayHeader+"\n")
	tests := []struct {
		name  string
		path  string
		speed float64
		is    error
	}{
		{"missing file", filepath.Join(t.TempDir(), "nope.csv"), 1, fs.ErrNotExist},
		{"empty file", mustWriteFile(t, ""), 1, nil},
		{"wrong header", mustWriteFile(t, "time,price,symbol,volume\n"), 1, nil},
		{"negative speed", good, -1, nil},
		{"NaN speed", good, math.NaN(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReplayFeed(tt.path, tt.speed, false, nil)
			if err == nil || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestReplayLoop(t *testing.T) {
	path := mustWriteFile(t, ReplayHeader+"\n"+
		"2025-03-14T14:30:00Z,AAPL,1,1\n"+
		"2025-03-14T14:30:01Z,AAPL,2,1\n"+
		"2025-03-14T14:30:02Z,AAPL,3,1\n")
	f, err := NewReplayFeed(path, 0, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	ticks, err := mustCollect(t, f, 9, 5*time.Second)
	if err != nil || len(ticks) != 9 {
		t.Fatalf("%d ticks, err %v", len(ticks), err)
	}
	for i, tk := range ticks {
		want := time.Date(2025, 3, 14, 14, 30, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
		if !tk.Time.Equal(want) || tk.Price != float64(i%3+1) {
			t.Fatalf("tick %d: %v at %v, want %v at %v", i, tk.Price, tk.Time, i%3+1, want)
		}
	}
	// A file without one valid tick cannot loop.
	empty := mustWriteFile(t, ReplayHeader+"\nbad\n")
	f, _ = NewReplayFeed(empty, 0, true, nil)
	if _, err := mustCollect(t, f, -1, 5*time.Second); err == nil {
		t.Fatal("looping over no ticks: want error")
	}
}

func TestReplayPace(t *testing.T) {
	path := mustWriteFile(t, ReplayHeader+"\n"+
		"1741962600000,A,1,1\n1741962601000,A,1,1\n1741962602000,A,1,1\n")
	tests := []struct {
		speed    float64
		min, max time.Duration
	}{
		{0, 0, 150 * time.Millisecond},
		{10, 190 * time.Millisecond, 1500 * time.Millisecond}, // 2 s of file at 10x
	}
	for _, tt := range tests {
		f, err := NewReplayFeed(path, tt.speed, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		ticks, err := mustCollect(t, f, -1, 5*time.Second)
		el := time.Since(start)
		if err != nil || len(ticks) != 3 || el < tt.min || el > tt.max {
			t.Errorf("speed %v: %d ticks in %v (err %v), want %v..%v", tt.speed, len(ticks), el, err, tt.min, tt.max)
		}
	}
	// Cancelling stops a slow replay at once.
	f, _ := NewReplayFeed(path, 0.001, false, nil)
	start := time.Now()
	if _, err := mustCollect(t, f, -1, 100*time.Millisecond); err != nil || time.Since(start) > time.Second {
		t.Fatalf("cancel: err %v after %v", err, time.Since(start))
	}
}

// BenchmarkParseCSV measures the replay line parser (the path ReplayFeed uses, with symbol
// interning) over realistic lines in both time formats.
func BenchmarkParseCSV(b *testing.B) {
	block, _ := benchTicks(500, 20, 9)
	lines := make([][]byte, len(block))
	for i, t := range block {
		if i%2 == 0 {
			lines[i] = AppendTickRecord(nil, t)
		} else {
			lines[i] = []byte(strconvItoa(t.Time.UnixMilli()) + "," + t.Symbol + "," +
				strconvFloat(t.Price) + "," + strconvItoa(t.Volume))
		}
	}
	intern := make(interner)
	var bytesN int
	for _, l := range lines {
		bytesN += len(l) + 1
	}
	b.SetBytes(int64(bytesN / len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := parseTickRecord(lines[i%len(lines)], intern); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
