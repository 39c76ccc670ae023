// Package mail sends the app's mail (password reset links) over SMTP. Callers depend on
// Sender, so tests can point the app at an in-process SMTP server and nothing else changes.
// It knows nothing of what the mail says: bodies are rendered by the caller (templ, in views).
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one mail: a plain-text body and an HTML alternative of the same content.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// Sender delivers mail.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Config says how to reach the SMTP server (TICKSTOCK_SMTP_URL, TICKSTOCK_MAIL_FROM).
type Config struct {
	Host     string
	Port     int    // 587 for submission with STARTTLS
	Username string // empty: no SMTP AUTH
	Password string
	From     string // the From address, e.g. "TickStock <noreply@example.com>"
	// ImplicitTLS speaks TLS from the first byte (smtps://, port 465). Otherwise the
	// connection must upgrade with STARTTLS before anything is sent: a server that does not
	// offer it gets no mail, so a link is never sent in clear text.
	ImplicitTLS bool
	// TLS, when set, verifies the server with this configuration instead of the system's
	// roots (a private CA; tests trust their own certificate).
	TLS     *tls.Config
	Timeout time.Duration // per connection; 0 means 15 s
}

// SMTP is a Sender over an SMTP server, one connection per message (resets are rare).
type SMTP struct {
	cfg Config
}

// NewSMTP checks cfg and returns a sender. It does not connect: an SMTP server that is
// down delays mail, not the start of the app.
func NewSMTP(cfg Config) (*SMTP, error) {
	if cfg.Host == "" {
		return nil, errors.New("mail: no SMTP host")
	}
	if cfg.Port <= 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("mail: SMTP port %d out of range", cfg.Port)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	m := gomail.NewMsg()
	if err := m.From(cfg.From); err != nil {
		return nil, fmt.Errorf("mail: From address %q: %w", cfg.From, err)
	}
	return &SMTP{cfg: cfg}, nil
}

// Send implements Sender.
func (s *SMTP) Send(ctx context.Context, msg Message) error {
	m := gomail.NewMsg()
	if err := m.From(s.cfg.From); err != nil {
		return fmt.Errorf("mail: From: %w", err)
	}
	if err := m.To(msg.To); err != nil {
		return fmt.Errorf("mail: To: %w", err)
	}
	m.Subject(msg.Subject)
	m.SetDate()
	m.SetMessageID()
	m.SetBodyString(gomail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		m.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	}

	tlsCfg := &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}
	if s.cfg.TLS != nil {
		tlsCfg = s.cfg.TLS.Clone()
		if tlsCfg.ServerName == "" {
			tlsCfg.ServerName = s.cfg.Host
		}
	}
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.Port),
		gomail.WithTimeout(s.cfg.Timeout),
		gomail.WithTLSConfig(tlsCfg),
		gomail.WithTLSPolicy(gomail.TLSMandatory),
	}
	if s.cfg.ImplicitTLS {
		opts = append(opts, gomail.WithSSL())
	}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	c, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("mail: SMTP client for %s: %w", s.cfg.Host, err)
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("mail: send through %s:%d: %w", s.cfg.Host, s.cfg.Port, err)
	}
	return nil
}
