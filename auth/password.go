// Package auth holds password hashing (capped process-wide), accounts, sessions, the per-user
// session index and the login lockout. It knows nothing of HTTP, templ or pages: sessions are
// read and ended by id, and the handlers deal with cookies. Redis and PostgreSQL failures
// leave it as tickstock.EUNAVAILABLE (through rdb.Err and db.Err).
package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/tickstock/tickstock"
)

// Argon2id parameters: OWASP's minimum (m=19 MiB, t=2, p=1).
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// ErrBadHash means a stored hash is not a PHC argon2id string this code can read.
var ErrBadHash = errors.New("password hash is not a valid argon2id PHC string")

// hashSlots bounds the argon2id work of the whole process: each hash holds about 19 MiB, so
// a login flood could otherwise exhaust memory. A caller waits at most HashWait for a slot.
var hashSlots = newSlots(2*runtime.NumCPU(), HashWait)

// HashWait is the longest a login, sign-up or password change waits for a hashing slot
// before it gets 503.
const HashWait = 5 * time.Second

// slots is a counting semaphore with a bounded wait.
type slots struct {
	ch   chan struct{}
	wait time.Duration
}

func newSlots(n int, wait time.Duration) *slots {
	return &slots{ch: make(chan struct{}, max(n, 1)), wait: wait}
}

// acquire takes a slot, waiting up to s.wait (or until ctx ends): then EUNAVAILABLE.
func (s *slots) acquire(ctx context.Context) error {
	select {
	case s.ch <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(s.wait)
	defer t.Stop()
	select {
	case s.ch <- struct{}{}:
		return nil
	case <-t.C:
		return &tickstock.Error{Code: tickstock.EUNAVAILABLE, Message: "Too many sign-ins at once. Please try again in a moment.",
			Err: fmt.Errorf("no password hashing slot free within %s", s.wait)}
	case <-ctx.Done():
		return &tickstock.Error{Code: tickstock.EUNAVAILABLE, Message: "Too many sign-ins at once. Please try again in a moment.",
			Err: fmt.Errorf("waiting for a password hashing slot: %w", ctx.Err())}
	}
}

func (s *slots) release() { <-s.ch }

// HashPassword returns a PHC string: $argon2id$v=19$m=19456,t=2,p=1$salt$hash. It waits for
// a hashing slot (see HashWait).
func HashPassword(ctx context.Context, password string) (string, error) {
	if err := hashSlots.acquire(ctx); err != nil {
		return "", err
	}
	defer hashSlots.release()
	return hashPassword(password)
}

func hashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: read salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime,
		argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword compares password with a PHC hash in constant time. The parameters come
// from the hash, so raising them later keeps old hashes valid. It waits for a hashing slot
// (see HashWait).
func VerifyPassword(ctx context.Context, password, phc string) (bool, error) {
	if err := hashSlots.acquire(ctx); err != nil {
		return false, err
	}
	defer hashSlots.release()
	return verifyPassword(password, phc)
}

func verifyPassword(password, phc string) (bool, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrBadHash
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<21 || t > 16 {
		return false, ErrBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, ErrBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return false, ErrBadHash
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is verified against when an email is unknown, so a login for a missing account
// costs the same time as one with a wrong password.
var dummyHash = mustHash("tickstock-dummy-password")

func mustHash(pw string) string {
	h, err := hashPassword(pw)
	if err != nil {
		panic(err)
	}
	return h
}

// VerifyDummy spends the same work as VerifyPassword (waiting for a slot the same way) and
// always fails; its error is the slot's, if no slot came free.
func VerifyDummy(ctx context.Context, password string) error {
	_, err := VerifyPassword(ctx, password, dummyHash)
	return err
}
