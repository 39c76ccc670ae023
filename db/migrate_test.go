package db_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/internal/testenv"
)

func TestMigrateConcurrently(t *testing.T) {
	dbURL := testenv.MustEmptyDatabase(t)
	ctx := context.Background()

	const runs = 3
	var wg sync.WaitGroup
	errs := make([]error, runs)
	start := make(chan struct{})
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = db.Migrate(ctx, dbURL, testenv.Logger())
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrate run %d failed: %v", i, err)
		}
	}

	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT version_id, count(*) FROM goose_db_version WHERE version_id > 0 GROUP BY version_id")
	if err != nil {
		t.Fatal(err)
	}
	versions := 0
	for rows.Next() {
		var v, n int64
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("migration %d applied %d times", v, n)
		}
		versions++
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if versions == 0 {
		t.Fatal("no migrations recorded")
	}
	// The schema is really there.
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		t.Fatalf("users table missing after migrate: %v", err)
	}
}
