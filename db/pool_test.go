package db_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/internal/testenv"
)

// TestBeginSetsTheSetting runs the combined BEGIN and set_config against PostgreSQL with
// values that would break a naive quote, and reads the setting back inside the transaction
// (and checks the access mode), then checks it is gone after it.
func TestBeginSetsTheSetting(t *testing.T) {
	// One connection, so the check after the transactions reads the connection they ran on.
	u, err := url.Parse(testenv.MustDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "1")
	u.RawQuery = q.Encode()
	pool, err := db.Open(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	tests := []struct {
		name  string
		mode  pgx.TxAccessMode
		value string
		want  string
	}{
		{"a user id", pgx.ReadWrite, "42", "42"},
		{"read only", pgx.ReadOnly, "on", "on"},
		{"a quote", pgx.ReadWrite, "it's'; DROP TABLE users; --", "it's'; DROP TABLE users; --"},
		{"a backslash", pgx.ReadOnly, `a\'b`, `a\'b`},
		{"a NUL byte", pgx.ReadWrite, "a\x00b", "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got, readOnly string
			err := db.InTx(context.Background(), pool, tt.mode, "app.test_setting", tt.value, func(q *db.Queries) error {
				if err := q.Conn().QueryRow(context.Background(), "SELECT current_setting('app.test_setting')").Scan(&got); err != nil {
					return err
				}
				return q.Conn().QueryRow(context.Background(), "SHOW transaction_read_only").Scan(&readOnly)
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("setting %q, want %q", got, tt.want)
			}
			if want := map[pgx.TxAccessMode]string{pgx.ReadOnly: "on", pgx.ReadWrite: "off"}[tt.mode]; readOnly != want {
				t.Fatalf("transaction_read_only %q, want %q", readOnly, want)
			}
		})
	}
	var after string
	if err := pool.QueryRow(context.Background(), "SELECT coalesce(current_setting('app.test_setting', true), '')").Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != "" {
		t.Fatalf("the setting outlived its transaction: %q", after)
	}
}
