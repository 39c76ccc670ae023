package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mustDataDir makes a data directory the unprivileged cluster user can reach when tests
// run as root (t.TempDir's parents are private to root).
func mustDataDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "tickstock-embed-")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "data")
}

// TestEmbeddedPostgres runs with no DATABASE_URL: the app starts its own cluster, serves,
// stops it, and a second start finds the data the first one wrote.
func TestEmbeddedPostgres(t *testing.T) {
	dataDir := mustDataDir(t)
	env := map[string]string{"TICKSTOCK_DATA_DIR": dataDir, "TICKSTOCK_PASSWORD": "correct horse battery"}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()

	var out bytes.Buffer
	if err := run(ctx, []string{"user", "add", "--email", "first@example.com", "--username", "first"}, getenv, &out); err != nil {
		t.Fatalf("user add on a new embedded cluster: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), `created user "first"`) {
		t.Fatalf("user add printed %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(dataDir, "pg", "PG_VERSION")); err != nil {
		t.Fatalf("cluster not created under TICKSTOCK_DATA_DIR: %v", err)
	}

	// Restart: the account is still there, so adding it again is refused.
	out.Reset()
	err := run(ctx, []string{"user", "add", "--email", "FIRST@example.com"}, getenv, &out)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second user add with the same email: want 'already exists', got %v\n%s", err, out.String())
	}

	// And serve works on the same cluster.
	s := MustServe(t, env)
	resp, _ := mustGet(t, s.URL+"/readyz")
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz on embedded PostgreSQL = %d\n%s", resp.StatusCode, s.logs.String())
	}
	s.stop()
	if !strings.Contains(s.logs.String(), "embedded PostgreSQL stopped") {
		t.Fatalf("embedded cluster not stopped with the app:\n%s", s.logs.String())
	}
}
