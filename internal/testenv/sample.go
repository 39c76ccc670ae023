package testenv

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/tickstock/tickstock/market"
)

// MustSampleEvents runs the detection engine over market/testdata/sample.csv, the replay
// sample, and returns its events: exactly what the app would detect replaying that file.
func MustSampleEvents(tb testing.TB) []market.Event {
	tb.Helper()
	_, here, _, _ := runtime.Caller(0)
	f, err := os.Open(filepath.Join(filepath.Dir(here), "..", "..", "market", "testdata", "sample.csv"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	eng := market.NewEngine(nil)
	var out []market.Event
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		t, err := market.ParseTickRecord(sc.Bytes())
		if err != nil {
			tb.Fatalf("sample line: %v", err)
		}
		out = eng.Process(t, out)
	}
	if len(out) == 0 {
		tb.Fatal("the engine found no events in the sample")
	}
	return out
}
