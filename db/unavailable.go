package db

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/internal/neterr"
)

// errAcquire marks a failure to get a connection from the pool (or to begin on it): that
// can only mean the database is away or overloaded, never a bad query.
var errAcquire = errors.New("acquire connection")

// msgUnavailable is what a user reads when PostgreSQL cannot serve the request.
const msgUnavailable = "The database is unavailable. Please try again shortly."

// Unavailable reports whether err means PostgreSQL cannot serve requests right now, as
// opposed to a query that failed on its merits: refused or broken connections, timeouts
// (the pool's, the server's or the caller's deadline), a closed pool, an acquire that
// failed, and the server's own "go away" codes (class 08 connection exceptions, 57P0x
// shutdown and cannot-connect-now, 57014 cancelled, 53300 too many connections). It is the
// one classification every PostgreSQL caller uses, through Err and the transaction helpers.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && unavailableCode(pe.Code) {
		return true
	}
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) ||
		errors.Is(err, errAcquire) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, puddle.ErrClosedPool) ||
		pgconn.Timeout(err) ||
		pgconn.SafeToRetry(err) || // failed before anything reached the server
		neterr.Broken(err)
}

func unavailableCode(code string) bool {
	return strings.HasPrefix(code, "08") || // connection exception
		strings.HasPrefix(code, "57P0") || // admin/crash shutdown, cannot connect now, database dropped, idle timeout
		code == "57014" || // query cancelled: statement timeout or our deadline
		code == "53300" // too many connections
}

// Err turns a PostgreSQL failure into the app's error at the storage boundary, saying what
// failed: an unavailable database becomes tickstock.EUNAVAILABLE (503), a missing row
// tickstock.ENOTFOUND (404), an error meant for users passes unchanged, and anything else is
// wrapped as an internal error. The cause stays in the chain for errors.Is/As and the log.
func Err(what string, err error) error {
	if err == nil {
		return nil
	}
	if Unavailable(err) {
		return &tickstock.Error{Code: tickstock.EUNAVAILABLE, Message: msgUnavailable, Err: fmt.Errorf("%s: %w", what, err)}
	}
	var te *tickstock.Error
	if errors.As(err, &te) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return &tickstock.Error{Code: tickstock.ENOTFOUND, Message: "Not found.", Err: fmt.Errorf("%s: %w", what, err)}
	}
	return fmt.Errorf("%s: %w", what, err)
}
