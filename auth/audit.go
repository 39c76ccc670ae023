package auth

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tickstock/tickstock/db"
)

// Auth event kinds, as logged and stored in auth_events.
const (
	EventLoginSuccess       = "login_success"
	EventLoginFailure       = "login_failure"
	EventLockout            = "lockout"
	EventLogout             = "logout"
	EventRegister           = "register"
	EventStreamUnauthorized = "stream_unauthorized"
	EventCSRFRejected       = "csrf_rejected"
	EventRateLimited        = "rate_limited"
	EventUserDisabled       = "user_disabled"
	EventUserEnabled        = "user_enabled"
	EventEmbedCreated       = "embed_created"
	EventEmbedRevoked       = "embed_revoked"
	EventTokenCreated       = "token_created"
	EventTokenRevoked       = "token_revoked"
	EventTokenRejected      = "token_rejected" // a bad or revoked API token was presented
)

// AuditEntry is one auth event. Email is hashed before it is logged or stored.
type AuditEntry struct {
	UserID int64
	Handle string
	Email  string
	IP     string
	Path   string
}

// Audit logs auth events through slog at once and stores them in auth_events in the
// background, so an attack that floods failures cannot stall requests on database writes.
type Audit struct {
	pool    *pgxpool.Pool
	logger  *slog.Logger
	queue   chan db.InsertAuthEventParams
	dropped atomic.Int64
}

// NewAudit builds the audit log; Run must be started to store entries.
func NewAudit(pool *pgxpool.Pool, logger *slog.Logger) *Audit {
	return &Audit{pool: pool, logger: logger, queue: make(chan db.InsertAuthEventParams, 1024)}
}

// Record logs and queues one event.
func (a *Audit) Record(kind string, e AuditEntry) {
	attrs := []any{"event", kind, "ip", e.IP}
	if e.Handle != "" {
		attrs = append(attrs, "user", e.Handle)
	}
	var emailHash string
	if e.Email != "" {
		emailHash = EmailHash(e.Email)
		attrs = append(attrs, "email_hash", emailHash)
	}
	if e.Path != "" {
		attrs = append(attrs, "path", e.Path)
	}
	level := slog.LevelInfo
	if warnEvents[kind] {
		level = slog.LevelWarn
	}
	a.logger.Log(context.Background(), level, "auth event", attrs...)

	p := db.InsertAuthEventParams{Kind: kind, EmailHash: emailHash, Ip: e.IP}
	if e.UserID > 0 {
		uid := e.UserID
		p.UserID = &uid
	}
	select {
	case a.queue <- p:
	default:
		a.dropped.Add(1)
	}
}

// Run stores queued events until ctx ends. Flush stores what is left.
func (a *Audit) Run(ctx context.Context) {
	for {
		select {
		case p := <-a.queue:
			a.store(ctx, p)
		case <-ctx.Done():
			return
		}
	}
}

// Flush stores the events still queued, until the queue is empty or ctx ends (shutdown
// gives it a slice of its budget); what is left then is only in the log.
func (a *Audit) Flush(ctx context.Context) {
	for ctx.Err() == nil {
		select {
		case p := <-a.queue:
			a.store(ctx, p)
		default:
			return
		}
	}
}

func (a *Audit) store(ctx context.Context, p db.InsertAuthEventParams) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	err := db.WithSystem(ctx, a.pool, func(q *db.Queries) error { return q.InsertAuthEvent(ctx, p) })
	if err != nil {
		a.logger.Warn("store auth event", "event", p.Kind, "err", err)
	}
}
