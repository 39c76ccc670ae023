package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/db"
)

// Password reset policy (SPEC section 11).
const (
	ResetTTL      = 30 * time.Minute // a link works this long after it is made
	ResetsPerHour = 3                // links sent per email address per hour
	// ResetPath is where a link points: ResetPath + token, under the app's base URL.
	ResetPath = "/auth/reset/"
	// resetKeep is how long a used or expired link is remembered, so a late click is told
	// "used" or "expired" rather than "unknown".
	resetKeep = 7 * 24 * time.Hour
)

// ResetLink is a new password reset link. URL carries the token, a secret: show it to the
// one it is for, never log it.
type ResetLink struct {
	URL     string
	Expires time.Time
}

// ResetMail is what a reset mail tells its reader.
type ResetMail struct {
	To       string // the account's email address
	Username string
	Link     string
	Expires  time.Time
}

// ResetMailer delivers reset links: by SMTP, or to the operator's log when no SMTP server is
// configured (see handlers.NewResetMailer).
type ResetMailer interface {
	SendReset(ctx context.Context, m ResetMail) error
}

// ResetState is what a reset token is worth.
type ResetState int

// A token is valid, or says why not: never made (or long forgotten), already used (or
// superseded by a password change), or past ResetTTL.
const (
	ResetValid ResetState = iota
	ResetUnknown
	ResetUsed
	ResetExpired
)

// ResetError is a token that cannot reset a password, and why.
type ResetError struct{ State ResetState }

func (e *ResetError) Error() string {
	switch e.State {
	case ResetUsed:
		return "password reset link already used"
	case ResetExpired:
		return "password reset link expired"
	}
	return "unknown password reset link"
}

// ResetConfig is what the reset service works with.
type ResetConfig struct {
	Pool     *pgxpool.Pool
	Sessions *Sessions
	Counter  Counter // ResetsPerHour per email; the login lockout is lifted after a reset
	Mailer   ResetMailer
	Audit    *Audit
	Logger   *slog.Logger
	// BaseURL is where users reach the app (TICKSTOCK_BASE_URL), such as
	// https://tickstock.example.com: links are BaseURL + ResetPath + token. It is never
	// taken from a request's Host header, which anyone can forge.
	BaseURL string
	Now     func() time.Time // nil: time.Now (tests move the clock)
}

// Resets makes, sends and spends password reset links. Only the SHA-256 of a link's token
// is stored (password_resets), and a link works once, within ResetTTL.
//
// A request for a link (Request) costs the caller the same whether or not the email has an
// account: it counts the request and queues it. Looking the account up, storing the token
// and sending the mail happen later, on Run's goroutine.
type Resets struct {
	cfg   ResetConfig
	now   func() time.Time
	queue chan resetJob
}

type resetJob struct{ email, ip string }

// NewResets builds the reset service; Run must be started to send links.
func NewResets(cfg ResetConfig) *Resets {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Resets{cfg: cfg, now: now, queue: make(chan resetJob, 256)}
}

// Create makes a new reset link for a user, valid for ResetTTL, without sending it. The
// admin console shows it to an admin for a user who has lost access to their mail; the
// mail of Request uses it too. An unknown user is tickstock.ENOTFOUND.
func (r *Resets) Create(ctx context.Context, userID int64) (ResetLink, error) {
	token := RandomToken(32)
	now := r.now()
	expires := now.Add(ResetTTL)
	err := db.WithUser(ctx, r.cfg.Pool, userID, func(q *db.Queries) error {
		return q.CreatePasswordReset(ctx, db.CreatePasswordResetParams{
			UserID: userID, TokenHash: tokenHash(token), CreatedAt: timestamptz(now), ExpiresAt: timestamptz(expires),
		})
	})
	if err != nil {
		return ResetLink{}, fmt.Errorf("create reset link: %w", err)
	}
	return ResetLink{URL: r.cfg.BaseURL + ResetPath + token, Expires: expires}, nil
}

// Request asks for a link to be mailed to email, if an account has it. It answers the same
// whatever the email: it counts the request (ResetsPerHour per email; beyond that nothing
// is sent) and queues it for Run. Only a counter that cannot be reached is an error.
func (r *Resets) Request(ctx context.Context, email, ip string) error {
	email = strings.TrimSpace(email)
	n, _, err := r.cfg.Counter.Hit(ctx, "reset:"+EmailHash(email), time.Hour, false)
	if err != nil {
		return fmt.Errorf("request reset link: %w", err)
	}
	if n > ResetsPerHour {
		r.cfg.Audit.Record(EventResetLimited, AuditEntry{Email: email, IP: ip})
		return nil
	}
	select {
	case r.queue <- resetJob{email: email, ip: ip}:
	default:
		r.cfg.Logger.Warn("password reset queue full; request dropped", "email_hash", EmailHash(email), "ip", ip)
	}
	return nil
}

// Run sends the queued links until ctx ends, and now and then forgets links long past
// their expiry.
func (r *Resets) Run(ctx context.Context) {
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	r.prune(ctx)
	for {
		select {
		case job := <-r.queue:
			r.send(ctx, job)
		case <-prune.C:
			r.prune(ctx)
		case <-ctx.Done():
			return
		}
	}
}

// send mails a link for one request, if the email belongs to an account that may sign in.
func (r *Resets) send(ctx context.Context, job resetJob) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	entry := AuditEntry{Email: job.email, IP: job.ip}
	var u db.User
	err := db.ReadSystem(ctx, r.cfg.Pool, func(q *db.Queries) error {
		var err error
		u, err = q.GetUserByEmail(ctx, job.email)
		return err
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		r.cfg.Audit.Record(EventResetRequested, entry) // no account: nothing to send
		return
	case err != nil:
		r.cfg.Logger.Error("password reset: look up account", "email_hash", EmailHash(job.email), "err", err)
		return
	}
	entry.UserID, entry.Handle = u.ID, u.Handle
	r.cfg.Audit.Record(EventResetRequested, entry)
	if u.Disabled {
		return
	}
	link, err := r.Create(ctx, u.ID)
	if err != nil {
		r.cfg.Logger.Error("password reset: make link", "user", u.Handle, "err", err)
		return
	}
	err = r.cfg.Mailer.SendReset(ctx, ResetMail{To: u.Email, Username: u.Username, Link: link.URL, Expires: link.Expires})
	if err != nil {
		r.cfg.Logger.Error("password reset: send mail", "user", u.Handle, "err", err)
	}
}

func (r *Resets) prune(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := db.WithSystem(ctx, r.cfg.Pool, func(q *db.Queries) error {
		return q.PrunePasswordResets(ctx, timestamptz(r.now().Add(-resetKeep)))
	})
	if err != nil && ctx.Err() == nil {
		r.cfg.Logger.Warn("password reset: forget old links", "err", err)
	}
}

// Check says whether token can still reset a password, without spending it: the reset page
// shows its form only for a valid one.
func (r *Resets) Check(ctx context.Context, token string) (ResetState, error) {
	if !wellFormedToken(token) {
		return ResetUnknown, nil
	}
	var row db.GetPasswordResetRow
	err := db.ReadSystem(ctx, r.cfg.Pool, func(q *db.Queries) error {
		var err error
		row, err = q.GetPasswordReset(ctx, tokenHash(token))
		return err
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ResetUnknown, nil
	case err != nil:
		return 0, fmt.Errorf("check reset link: %w", err)
	case row.UsedAt.Valid:
		return ResetUsed, nil
	case !r.now().Before(row.ExpiresAt.Time):
		return ResetExpired, nil
	}
	return ResetValid, nil
}

// Complete spends token to set the user's new password: once only, however many requests
// race for it. Every session of the user then ends (each with its streams; embeds and API
// tokens live on), every other open link is spent, the login lockout of the email is
// lifted, and a new session signs the user in afresh, replacing prev (the browser's). A
// token that cannot be used is *ResetError; a bad password a field error on "password".
func (r *Resets) Complete(ctx context.Context, token, password string, prev *State, dev Device) (db.User, *State, error) {
	if !wellFormedToken(token) {
		return db.User{}, nil, &ResetError{State: ResetUnknown}
	}
	if err := validPassword(password, "password"); err != nil {
		return db.User{}, nil, err
	}
	now := timestamptz(r.now())
	var u db.User
	// The password is hashed only after this transaction has claimed the link: requests
	// racing for one link wait on its row and then find it spent, so only the winner pays
	// for (and waits on a slot for) a hash.
	err := db.WithSystem(ctx, r.cfg.Pool, func(q *db.Queries) error {
		userID, err := q.UsePasswordReset(ctx, db.UsePasswordResetParams{TokenHash: tokenHash(token), Now: now})
		if err != nil {
			return err
		}
		if u, err = q.GetUserByID(ctx, userID); err != nil {
			return err
		}
		if u.Disabled {
			return &ResetError{State: ResetUnknown} // rolls back: the link stays as it was
		}
		hash, err := HashPassword(ctx, password)
		if err != nil {
			return err // rolls back: the link stays usable
		}
		if err := q.SetUserPassword(ctx, db.SetUserPasswordParams{ID: u.ID, PasswordHash: hash}); err != nil {
			return err
		}
		return q.RetireUserResets(ctx, db.RetireUserResetsParams{UserID: u.ID, Now: now})
	})
	if errors.Is(err, pgx.ErrNoRows) {
		state, cerr := r.Check(ctx, token)
		if cerr != nil {
			return db.User{}, nil, cerr
		}
		if state == ResetValid { // spent or expired between the two reads
			state = ResetUsed
		}
		return db.User{}, nil, &ResetError{State: state}
	}
	if err != nil {
		return db.User{}, nil, fmt.Errorf("reset password: %w", err)
	}
	if _, err := r.cfg.Sessions.EndOthers(ctx, u.ID, "", bus.ReasonRevoked); err != nil {
		return db.User{}, nil, fmt.Errorf("reset password: end sessions: %w", err)
	}
	if err := r.cfg.Counter.Reset(ctx, lockKey(u.Email)); err != nil {
		return db.User{}, nil, fmt.Errorf("reset password: %w", err)
	}
	st, err := r.cfg.Sessions.Login(ctx, prev, u.ID, u.Handle, dev)
	if err != nil {
		return db.User{}, nil, fmt.Errorf("reset password: sign in: %w", err)
	}
	return u, st, nil
}

// tokenHash is what password_resets stores of a token.
func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// wellFormedToken accepts only what RandomToken(32) makes, so junk costs no query.
func wellFormedToken(t string) bool { return wellFormedID(t) }

func timestamptz(t time.Time) pgtype.Timestamptz { return pgtype.Timestamptz{Time: t, Valid: true} }
