// Package neterr recognises failures of a connection itself, as opposed to an answer from the
// server at the other end. db and rdb build their "is this dependency unavailable?" on it,
// so PostgreSQL and Redis agree on what a broken network looks like.
package neterr

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
)

// Broken reports whether err (anywhere in its chain) says the connection could not be made,
// broke, or timed out, or that the caller's deadline passed or it gave up waiting: refused,
// reset, closed, unreachable, an EOF in the middle of an answer, or any net.Error.
func Broken(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.ErrClosedPipe),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.ENETDOWN):
		return true
	}
	return false
}

// Timeout reports whether err is a deadline rather than a broken connection: retrying it
// would only spend the caller's remaining time.
func Timeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		(errors.As(err, &ne) && ne.Timeout())
}
