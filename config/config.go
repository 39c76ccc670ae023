// Package config reads and validates the TICKSTOCK_* environment once, at start, so a bad
// value stops the program with a message naming the variable instead of failing later.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"
)

// Feed names the source of ticks.
type Feed string

// The feeds SPEC section 3 defines.
const (
	FeedSim     Feed = "sim"
	FeedReplay  Feed = "replay"
	FeedPolygon Feed = "polygon"
)

// DefaultPolygonURL is the provider's real-time stocks WebSocket.
const DefaultPolygonURL = "wss://socket.polygon.io/stocks"

// DefaultRedisPrefix starts the app's Redis keys unless TICKSTOCK_REDIS_PREFIX says
// otherwise.
const DefaultRedisPrefix = "tickstock:"

// Config is every setting of SPEC section 1, validated.
type Config struct {
	Addr          string
	DataDir       string
	DataDirSet    bool   // TICKSTOCK_DATA_DIR was given, not the default
	DatabaseURL   string // empty: embedded PostgreSQL under DataDir
	RedisURL      string // empty: in-process memory
	Feed          Feed
	SimSeed       int64
	SimSeedSet    bool
	SimRate       int
	ReplayFile    string
	ReplaySpeed   float64
	ReplayLoop    bool
	PolygonAPIKey string
	PolygonURL    string
	EmitInterval  time.Duration
	CookieSecure  bool
	RateLimit     int
	SignupOpen    bool
	MetricsAddr   string
	LogJSON       bool
	// TrustedProxies are the proxies whose X-Forwarded-For names the client
	// (TICKSTOCK_TRUSTED_PROXIES); none by default.
	TrustedProxies []netip.Prefix
	// RedisPrefix starts every Redis key and channel the app uses (TICKSTOCK_REDIS_PREFIX),
	// so several deployments (or test runs) can share one Redis.
	RedisPrefix string
	// SMTP is the outgoing mail server (TICKSTOCK_SMTP_URL); nil: reset links go to the log.
	SMTP *SMTP
	// MailFrom is the From address of the app's mail (TICKSTOCK_MAIL_FROM).
	MailFrom string
	// BaseURL is where users reach the app, for links in mail (TICKSTOCK_BASE_URL), with no
	// trailing slash; empty: http:// and the address the app listens on.
	BaseURL string
}

// SMTP is an SMTP server from TICKSTOCK_SMTP_URL: smtp://user:pass@host:587 speaks
// STARTTLS (required), smtps://user:pass@host:465 TLS from the start.
type SMTP struct {
	Host        string
	Port        int
	Username    string
	Password    string
	ImplicitTLS bool
}

// FieldError is a bad value in one variable.
type FieldError struct {
	Var    string
	Value  string
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: %s (got %q)", e.Var, e.Reason, e.Value)
}

type loader struct {
	getenv func(string) string
	errs   []error
}

func (l *loader) fail(name, value, reason string) {
	l.errs = append(l.errs, &FieldError{Var: name, Value: value, Reason: reason})
}

func (l *loader) str(name, def string) string {
	if v := strings.TrimSpace(l.getenv(name)); v != "" {
		return v
	}
	return def
}

func (l *loader) boolean(name string, def bool) bool {
	raw := strings.TrimSpace(l.getenv(name))
	if raw == "" {
		return def
	}
	v, err := strconv.ParseBool(raw)
	if err != nil {
		l.fail(name, raw, "must be true or false")
		return def
	}
	return v
}

func (l *loader) integer(name string, def, lo, hi int) int {
	raw := strings.TrimSpace(l.getenv(name))
	if raw == "" {
		return def
	}
	v, err := strconv.Atoi(raw)
	if err != nil || v < lo || v > hi {
		l.fail(name, raw, fmt.Sprintf("must be a whole number from %d to %d", lo, hi))
		return def
	}
	return v
}

func (l *loader) oneOf(name, def string, allowed ...string) string {
	v := l.str(name, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	l.fail(name, v, "must be one of "+strings.Join(allowed, ", "))
	return def
}

func (l *loader) hostPort(name, def string, required bool) string {
	v := l.str(name, def)
	if v == "" && !required {
		return ""
	}
	if _, port, err := net.SplitHostPort(v); err != nil {
		l.fail(name, v, "must be host:port")
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		l.fail(name, v, "port must be a number from 0 to 65535")
	}
	return v
}

// prefixes reads a comma-separated list of CIDRs; a bare address stands for itself alone.
func (l *loader) prefixes(name string) []netip.Prefix {
	raw := strings.TrimSpace(l.getenv(name))
	if raw == "" {
		return nil
	}
	var out []netip.Prefix
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			a, aerr := netip.ParseAddr(part)
			if aerr != nil {
				l.fail(name, raw, fmt.Sprintf("%q is not a CIDR such as 10.0.0.0/8 or an IP address", part))
				return nil
			}
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out
}

// smtpURL reads smtp://[user[:pass]@]host[:port] (port 587, STARTTLS) or smtps:// (port
// 465, TLS from the start). Errors never print the password.
func (l *loader) smtpURL(name string) *SMTP {
	raw := strings.TrimSpace(l.getenv(name))
	if raw == "" {
		return nil
	}
	shown := redactURL(raw)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		l.fail(name, shown, "must be a URL such as smtp://user:password@mail.example.com:587 (smtps:// for TLS from the start)")
		return nil
	}
	s := &SMTP{Host: u.Hostname(), Port: 587, ImplicitTLS: u.Scheme == "smtps"}
	if s.ImplicitTLS {
		s.Port = 465
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			l.fail(name, shown, "port must be a number from 1 to 65535")
			return nil
		}
		s.Port = n
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
		if s.Username == "" {
			l.fail(name, shown, "has a password but no user name")
			return nil
		}
	}
	return s
}

// baseURL reads an http:// or https:// address with no query or fragment.
func (l *loader) baseURL(name string) string {
	raw := strings.TrimSpace(l.getenv(name))
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		l.fail(name, raw, "must be the address users reach the app at, such as https://tickstock.example.com")
		return ""
	}
	return strings.TrimRight(u.String(), "/")
}

// Load reads the configuration through getenv. The error joins one FieldError per bad variable.
func Load(getenv func(string) string) (Config, error) {
	l := &loader{getenv: getenv}
	c := Config{
		Addr:         l.hostPort("TICKSTOCK_ADDR", "localhost:8080", true),
		DataDir:      l.str("TICKSTOCK_DATA_DIR", ".tickstock"),
		DatabaseURL:  l.str("DATABASE_URL", ""),
		RedisURL:     l.str("REDIS_URL", ""),
		Feed:         Feed(l.oneOf("TICKSTOCK_FEED", "sim", "sim", "replay", "polygon")),
		SimRate:      l.integer("TICKSTOCK_SIM_RATE", 2000, 1, 1_000_000),
		ReplayFile:   l.str("TICKSTOCK_REPLAY_FILE", ""),
		ReplayLoop:   l.boolean("TICKSTOCK_REPLAY_LOOP", false),
		PolygonURL:   l.str("TICKSTOCK_POLYGON_URL", DefaultPolygonURL),
		CookieSecure: l.boolean("TICKSTOCK_COOKIE_SECURE", true),
		RateLimit:    l.integer("TICKSTOCK_RATE_LIMIT", 100, 1, 1_000_000),
		SignupOpen:   l.oneOf("TICKSTOCK_SIGNUP", "open", "open", "closed") == "open",
		MetricsAddr:  l.hostPort("TICKSTOCK_METRICS_ADDR", "", false),
		LogJSON:      l.oneOf("TICKSTOCK_LOG_FORMAT", "text", "text", "json") == "json",
	}
	c.PolygonAPIKey = strings.TrimSpace(getenv("POLYGON_API_KEY"))
	c.TrustedProxies = l.prefixes("TICKSTOCK_TRUSTED_PROXIES")
	c.RedisPrefix = l.str("TICKSTOCK_REDIS_PREFIX", DefaultRedisPrefix)

	if raw := strings.TrimSpace(getenv("TICKSTOCK_SIM_SEED")); raw != "" {
		seed, err := strconv.ParseInt(raw, 10, 64)
		if err != nil { // the seed the simulator logs is unsigned; accept it back as is
			var u uint64
			u, err = strconv.ParseUint(raw, 10, 64)
			seed = int64(u)
		}
		if err != nil {
			l.fail("TICKSTOCK_SIM_SEED", raw, "must be a whole number")
		} else {
			c.SimSeed, c.SimSeedSet = seed, true
		}
	}

	c.ReplaySpeed = 1
	if raw := strings.TrimSpace(getenv("TICKSTOCK_REPLAY_SPEED")); raw != "" {
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil || v < 0 || v > 1e6 || v != v {
			l.fail("TICKSTOCK_REPLAY_SPEED", raw, "must be a number from 0 (as fast as possible) to 1000000")
		} else {
			c.ReplaySpeed = v
		}
	}

	c.EmitInterval = time.Second
	if raw := strings.TrimSpace(getenv("TICKSTOCK_EMIT_INTERVAL")); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d < 10*time.Millisecond || d > time.Minute {
			l.fail("TICKSTOCK_EMIT_INTERVAL", raw, "must be a duration from 10ms to 1m, such as 1s or 500ms")
		} else {
			c.EmitInterval = d
		}
	}

	if c.DatabaseURL != "" {
		if _, err := pgconn.ParseConfig(c.DatabaseURL); err != nil {
			l.fail("DATABASE_URL", redactURL(c.DatabaseURL), "is not a valid PostgreSQL URL")
		}
	}
	if c.RedisURL != "" {
		if _, err := redis.ParseURL(c.RedisURL); err != nil {
			l.fail("REDIS_URL", redactURL(c.RedisURL), "is not a valid Redis URL such as redis://127.0.0.1:6379/0")
		}
	}
	if len(c.RedisPrefix) > 64 || strings.ContainsAny(c.RedisPrefix, " \t\r\n*?[]") {
		l.fail("TICKSTOCK_REDIS_PREFIX", c.RedisPrefix, "must be at most 64 characters, without spaces or glob characters (*?[])")
	}
	switch c.Feed {
	case FeedReplay:
		if c.ReplayFile == "" {
			l.fail("TICKSTOCK_REPLAY_FILE", "", "is required when TICKSTOCK_FEED=replay")
		}
	case FeedPolygon:
		if c.PolygonAPIKey == "" {
			l.fail("POLYGON_API_KEY", "", "is required when TICKSTOCK_FEED=polygon")
		}
		if !strings.HasPrefix(c.PolygonURL, "ws://") && !strings.HasPrefix(c.PolygonURL, "wss://") {
			l.fail("TICKSTOCK_POLYGON_URL", c.PolygonURL, "must be a ws:// or wss:// URL")
		}
	}
	if c.DataDir == "" {
		l.fail("TICKSTOCK_DATA_DIR", "", "must not be empty")
	}
	c.DataDirSet = getenv("TICKSTOCK_DATA_DIR") != ""
	c.SMTP = l.smtpURL("TICKSTOCK_SMTP_URL")
	c.MailFrom = l.str("TICKSTOCK_MAIL_FROM", "")
	switch {
	case c.MailFrom != "":
		if a, err := mail.ParseAddress(c.MailFrom); err != nil || !strings.Contains(a.Address, "@") {
			l.fail("TICKSTOCK_MAIL_FROM", c.MailFrom, "must be a mail address such as TickStock <noreply@example.com>")
		} else if c.SMTP == nil && strings.TrimSpace(getenv("TICKSTOCK_SMTP_URL")) == "" {
			l.fail("TICKSTOCK_SMTP_URL", "", "is required when TICKSTOCK_MAIL_FROM is set")
		}
	case c.SMTP != nil:
		l.fail("TICKSTOCK_MAIL_FROM", "", "is required when TICKSTOCK_SMTP_URL is set")
	}
	c.BaseURL = l.baseURL("TICKSTOCK_BASE_URL")
	if len(l.errs) > 0 {
		return c, fmt.Errorf("invalid configuration: %w", errors.Join(l.errs...))
	}
	return c, nil
}

// redactURL hides a password so configuration errors never print secrets.
func redactURL(s string) string {
	at := strings.LastIndex(s, "@")
	scheme := strings.Index(s, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return s
	}
	creds := s[scheme+3 : at]
	if i := strings.Index(creds, ":"); i >= 0 {
		return s[:scheme+3] + creds[:i] + ":***" + s[at:]
	}
	return s
}
