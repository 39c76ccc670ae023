package db_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/internal/testenv"
)

// privateParent makes a directory only root may enter, like /root on a fresh machine, and
// returns a data directory inside it.
func privateParent(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "tickstock-private-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(dir, ".tickstock")
}

// openFallback is a fallback root the cluster user can reach.
func openFallback(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "tickstock-fallback-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// TestEmbeddedDefaultDirOutOfReach: as root, with a clone under a private directory (the
// usual fresh machine: /root), zero configuration still starts the cluster, in the fallback
// root; a data directory the operator chose is never moved, and the error names the fix.
func TestEmbeddedDefaultDirOutOfReach(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root runs the cluster as another user") // the case exists only for root
	}
	ctx := context.Background()
	logger := testenv.Logger()

	chosen := privateParent(t)
	_, err := db.StartEmbedded(ctx, db.EmbeddedConfig{Dir: chosen, Default: false, FallbackRoot: openFallback(t)}, logger)
	if err == nil || !strings.Contains(err.Error(), "TICKSTOCK_DATA_DIR") {
		t.Fatalf("an operator's unreachable TICKSTOCK_DATA_DIR: want an error naming the variable, got %v", err)
	}

	fallback := openFallback(t)
	dataDir := privateParent(t)
	e, err := db.StartEmbedded(ctx, db.EmbeddedConfig{Dir: dataDir, Default: true, FallbackRoot: fallback}, logger)
	if err != nil {
		t.Fatalf("default data directory out of reach: %v", err)
	}
	defer e.Stop(ctx) //nolint:errcheck
	moved := db.FallbackDir(fallback, dataDir)
	if _, err := os.Stat(filepath.Join(moved, "pg", "PG_VERSION")); err != nil {
		t.Fatalf("cluster not created under the fallback %s: %v", moved, err)
	}
	conn, err := pgx.Connect(ctx, e.URL)
	if err != nil {
		t.Fatalf("connect to the moved cluster: %v", err)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("query the moved cluster: %v", err)
	}
	conn.Close(ctx)
	if other := db.FallbackDir(fallback, dataDir+"2"); other == moved {
		t.Fatal("two data directories map to one fallback cluster")
	}
}
