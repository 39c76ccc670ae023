package setup

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrepareRun: on a Debian machine with only Go, the run set-up fetches htmx and
// installs PostgreSQL's server, and nothing the tests alone need.
func TestPrepareRun(t *testing.T) {
	reg := mustRegistry(t)
	dir := t.TempDir()
	htmx, sse := htmxPackages(t)
	lock := reg.mustLock(t, dir, htmx, sse)
	f := MustFakeMachine(t, "debian")
	f.aptGet(t)
	var out bytes.Buffer
	m := f.machine(true, nil, &out)
	v := reg.vendor(lock, filepath.Join(dir, "vendor"))

	if err := Prepare(context.Background(), "run", m, v); err != nil {
		t.Fatalf("Prepare run: %v\n%s", err, out.String())
	}
	want := []string{"apt-get update -q", "  DEBIAN_FRONTEND=noninteractive",
		"apt-get install -y -q postgresql", "  DEBIAN_FRONTEND=noninteractive"}
	if calls := f.calls(t); !equal(calls, want) {
		t.Fatalf("calls %q, want %q", calls, want)
	}
	if got := mustRead(t, filepath.Join(dir, "vendor", "htmx.min.js")); got != htmxJS {
		t.Fatalf("htmx.min.js = %q", got)
	}

	// Again: nothing to install, nothing to download.
	if err := Prepare(context.Background(), "run", m, v); err != nil {
		t.Fatal(err)
	}
	if calls := f.calls(t); len(calls) != len(want) || reg.downloads.Load() != 2 {
		t.Fatalf("second run: calls %q, %d downloads", calls, reg.downloads.Load())
	}
}

// TestPrepareNoInstall: TICKSTOCK_NO_INSTALL downloads nothing either, and says how to.
func TestPrepareNoInstall(t *testing.T) {
	reg := mustRegistry(t)
	dir := t.TempDir()
	htmx, sse := htmxPackages(t)
	lock := reg.mustLock(t, dir, htmx, sse)
	f := MustFakeMachine(t, "debian")
	f.aptGet(t)
	m := f.machine(true, map[string]string{"TICKSTOCK_NO_INSTALL": "1"}, &bytes.Buffer{})
	v := reg.vendor(lock, filepath.Join(dir, "vendor"))
	err := Prepare(context.Background(), "test", m, v)
	if err == nil || !strings.Contains(err.Error(), "TICKSTOCK_NO_INSTALL is set") ||
		!strings.Contains(err.Error(), "go run ./cmd/setup htmx") {
		t.Fatalf("error %v", err)
	}
	if reg.downloads.Load() != 0 || f.calls(t) != nil {
		t.Fatalf("%d downloads, calls %q", reg.downloads.Load(), f.calls(t))
	}
	if _, err := os.Stat(filepath.Join(dir, "vendor")); !os.IsNotExist(err) {
		t.Fatalf("vendor directory created: %v", err)
	}

	// The explicit htmx set-up fetches even then: it is what the message says to run.
	if err := Prepare(context.Background(), "htmx", m, v); err != nil || reg.downloads.Load() != 2 {
		t.Fatalf("Prepare htmx: %v, %d downloads", err, reg.downloads.Load())
	}
}

func TestPrepareUnknown(t *testing.T) {
	err := Prepare(context.Background(), "serve", &Machine{}, Vendor{})
	if err == nil || !strings.Contains(err.Error(), `unknown setup "serve"`) {
		t.Fatalf("error %v", err)
	}
}
