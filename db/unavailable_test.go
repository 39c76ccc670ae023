package db_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/internal/faultproxy"
	"github.com/tickstock/tickstock/internal/testenv"
)

// wrapper is an error type of someone else's that wraps.
type wrapper struct{ err error }

func (w wrapper) Error() string { return "wrapped: " + w.err.Error() }
func (w wrapper) Unwrap() error { return w.err }

// realConnectError is what pgx returns when nothing listens.
func realConnectError(tb testing.TB) error {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := pgconn.Connect(ctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1")
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) {
		tb.Fatalf("connect to a closed port gave %T %v, want *pgconn.ConnectError", err, err)
	}
	return err
}

// unavailableErrors are failures that mean "PostgreSQL cannot serve now".
func unavailableErrors(tb testing.TB) []error {
	return []error{
		realConnectError(tb),
		pgconn.ErrConnClosed,
		puddle.ErrClosedPool,
		context.DeadlineExceeded,
		io.EOF,
		io.ErrUnexpectedEOF,
		syscall.ECONNREFUSED,
		syscall.ECONNRESET,
		&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET},
		&pgconn.PgError{Code: "08006", Message: "connection failure"},
		&pgconn.PgError{Code: "08P01", Message: "protocol violation"},
		&pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"},
		&pgconn.PgError{Code: "57P03", Message: "the database system is starting up"},
		&pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"},
		&pgconn.PgError{Code: "53300", Message: "too many connections"},
	}
}

// availableErrors are failures of a query on its merits, or answers.
var availableErrors = []error{
	pgx.ErrNoRows,
	&pgconn.PgError{Code: "23505", Message: "duplicate key"},
	&pgconn.PgError{Code: "42P01", Message: "relation does not exist"},
	&pgconn.PgError{Code: "22P02", Message: "invalid input syntax"},
	&pgconn.PgError{Code: "40001", Message: "could not serialize access"},
	errors.New("conn closed"), // the words alone prove nothing
	errors.New("closed pool"),
	tickstock.FieldError("email", "taken"),
}

func TestUnavailable(t *testing.T) {
	for _, err := range unavailableErrors(t) {
		if !db.Unavailable(err) {
			t.Errorf("Unavailable(%T %v) = false", err, err)
		}
		got := db.Err("load", err)
		if tickstock.ErrorCode(got) != tickstock.EUNAVAILABLE || !errors.Is(got, err) {
			t.Errorf("Err(%v) = %v: want EUNAVAILABLE wrapping the cause", err, got)
		}
		if tickstock.ErrorMessage(got) == err.Error() {
			t.Errorf("Err(%v) shows the cause to users", err)
		}
	}
	for _, err := range availableErrors {
		if db.Unavailable(err) {
			t.Errorf("Unavailable(%T %v) = true", err, err)
		}
	}
	if db.Unavailable(nil) || db.Err("x", nil) != nil {
		t.Error("nil is not an error")
	}
	if got := db.Err("find user", pgx.ErrNoRows); tickstock.ErrorCode(got) != tickstock.ENOTFOUND || !errors.Is(got, pgx.ErrNoRows) {
		t.Errorf("Err(ErrNoRows) = %v, want ENOTFOUND", got)
	}
	fe := tickstock.FieldError("email", "taken")
	if got := db.Err("create", fe); got != error(fe) {
		t.Errorf("Err of a user error = %v, want it unchanged", got)
	}
	if got := db.Err("x", &pgconn.PgError{Code: "23505"}); tickstock.ErrorCode(got) != tickstock.EINTERNAL {
		t.Errorf("Err of a failed query = %v, want internal", got)
	}
}

// wrap applies the wrapping steps ops to err: every way an error travels up a call chain.
func wrap(err error, ops []byte) error {
	benign := errors.New("something else")
	for _, op := range ops {
		switch op % 6 {
		case 0:
			err = fmt.Errorf("step: %w", err)
		case 1:
			err = errors.Join(benign, err)
		case 2:
			err = errors.Join(err, benign)
		case 3:
			err = wrapper{err}
		case 4:
			err = fmt.Errorf("%w, then %w", benign, err)
		case 5:
			err = &tickstock.Error{Code: tickstock.EINTERNAL, Message: "x", Err: err}
		}
	}
	return err
}

// FuzzUnavailable: however a failure is wrapped on its way up, the classification holds,
// Err turns exactly the unavailable ones into 503, and the cause stays in the chain. A
// plain error with any text is never taken for an outage.
func FuzzUnavailable(f *testing.F) {
	bases := append(unavailableErrors(f), availableErrors...)
	f.Add(uint8(0), []byte{0, 1, 2}, "conn closed")
	f.Add(uint8(3), []byte{3, 4, 5, 0}, "timeout")
	f.Add(uint8(200), []byte{}, "08006 connection failure")
	f.Fuzz(func(t *testing.T, pick uint8, ops []byte, text string) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		var base error
		want := false
		if int(pick) < len(bases) {
			base = bases[pick]
			want = db.Unavailable(base)
		} else {
			base = errors.New(text)
			if db.Unavailable(base) {
				t.Fatalf("the text %q alone was taken for an outage", text)
			}
		}
		err := wrap(base, ops)
		if got := db.Unavailable(err); got != want {
			t.Fatalf("Unavailable(%v) = %v after wrapping %v, want %v", err, got, ops, want)
		}
		got := db.Err("op", err)
		if (tickstock.ErrorCode(got) == tickstock.EUNAVAILABLE) != want {
			t.Fatalf("Err(%v) = %v (code %s); unavailable=%v", err, got, tickstock.ErrorCode(got), want)
		}
		if !errors.Is(got, base) {
			t.Fatalf("Err lost the cause %v", base)
		}
	})
}

// TestReadRetriesOnAFreshConnection: after the server drops every connection (a restart, a
// failover), a read runs again once on a connection checked alive, so the user never sees
// the dead one; a write on the dead connection fails closed with 503 instead.
func TestReadRetriesOnAFreshConnection(t *testing.T) {
	dbURL := testenv.MustDatabase(t)
	p := faultproxy.MustStart(t, testenv.MustHostPort(t, dbURL))
	ctx := context.Background()
	pool, err := db.Open(ctx, testenv.WithHostPort(t, dbURL, p.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	count := func(q *db.Queries) error { _, err := q.ListUsers(ctx); return err }

	if err := db.ReadSystem(ctx, pool, count); err != nil {
		t.Fatal(err)
	}
	p.DropAll()
	if err := db.ReadSystem(ctx, pool, count); err != nil {
		t.Fatalf("read after the server dropped its connections: %v", err)
	}
	p.DropAll()
	err = db.WithSystem(ctx, pool, count)
	if tickstock.ErrorCode(err) != tickstock.EUNAVAILABLE {
		t.Fatalf("a read-write transaction on a dropped connection: %v, want EUNAVAILABLE", err)
	}

	// Down for good: a read fails closed too, fast, and works again once the server is back.
	p.Down()
	start := time.Now()
	err = db.ReadSystem(ctx, pool, count)
	if tickstock.ErrorCode(err) != tickstock.EUNAVAILABLE {
		t.Fatalf("read with the server down: %v, want EUNAVAILABLE", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("a refused read took %s", d)
	}
	p.Up()
	if err := db.ReadSystem(ctx, pool, count); err != nil {
		t.Fatalf("read after the server came back: %v", err)
	}

	// A closed pool (shutdown) is unavailable, not a 500.
	pool.Close()
	if err := db.ReadSystem(ctx, pool, count); tickstock.ErrorCode(err) != tickstock.EUNAVAILABLE {
		t.Fatalf("read on a closed pool: %v, want EUNAVAILABLE", err)
	}
}
