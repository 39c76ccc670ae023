package mail_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/tickstock/tickstock/internal/smtptest"
	"github.com/tickstock/tickstock/mail"
)

func config(s *smtptest.Server) mail.Config {
	return mail.Config{Host: s.Host, Port: s.Port, Username: s.Username, Password: s.Password,
		From: "TickStock <noreply@tickstock.test>", TLS: &tls.Config{RootCAs: s.RootCAs}, Timeout: 5 * time.Second}
}

// TestSendOverSTARTTLS: a message goes out after STARTTLS and AUTH, with a text body and
// an HTML alternative that arrive intact (non-ASCII, long lines, markup).
func TestSendOverSTARTTLS(t *testing.T) {
	srv := smtptest.MustStart(t)
	s, err := mail.NewSMTP(config(srv))
	if err != nil {
		t.Fatal(err)
	}
	text := "Hello Zoë,\n\nOpen this link: https://tickstock.test/auth/reset/" + strings.Repeat("x", 120) + "\n"
	html := `<p>Hello Zoë, <a href="https://tickstock.test/auth/reset/abc">reset</a></p>`
	err = s.Send(context.Background(), mail.Message{To: "zoe@example.com", Subject: "Reset your TickStock password", Text: text, HTML: html})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	m := srv.Next(t, 5*time.Second)
	if m.Subject != "Reset your TickStock password" || m.From != "noreply@tickstock.test" ||
		len(m.To) != 1 || m.To[0] != "zoe@example.com" {
		t.Fatalf("envelope or subject: %+v", m)
	}
	if strings.ReplaceAll(m.Text, "\r\n", "\n") != text {
		t.Fatalf("text part %q, want %q", m.Text, text)
	}
	if m.HTML != html {
		t.Fatalf("HTML part %q, want %q", m.HTML, html)
	}
}

// TestRefusesWithoutSTARTTLS: a server that does not offer STARTTLS (a downgrade) gets no
// mail: the link would travel in clear text.
func TestRefusesWithoutSTARTTLS(t *testing.T) {
	srv := smtptest.MustStart(t, smtptest.WithoutSTARTTLS())
	s, err := mail.NewSMTP(config(srv))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), mail.Message{To: "zoe@example.com", Subject: "x", Text: "secret link"})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("Send without STARTTLS = %v, want a STARTTLS error", err)
	}
	srv.None(t, 200*time.Millisecond)
	if srv.Rejected() {
		t.Fatal("the client tried to send in clear text")
	}
}

// TestSendFailures: bad credentials and an untrusted certificate are errors, never a
// silent drop; a cancelled context stops the attempt.
func TestSendFailures(t *testing.T) {
	srv := smtptest.MustStart(t)
	cases := map[string]func(*mail.Config){
		"wrong password":        func(c *mail.Config) { c.Password = "nope" },
		"untrusted certificate": func(c *mail.Config) { c.TLS = nil },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := config(srv)
			change(&cfg)
			s, err := mail.NewSMTP(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(context.Background(), mail.Message{To: "a@example.com", Subject: "x", Text: "y"}); err == nil {
				t.Fatal("Send succeeded")
			}
		})
	}
	srv.None(t, 100*time.Millisecond)

	s, _ := mail.NewSMTP(config(srv))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Send(ctx, mail.Message{To: "a@example.com", Subject: "x", Text: "y"}); err == nil {
		t.Fatal("Send with a cancelled context succeeded")
	}
}

func TestNewSMTPChecksConfig(t *testing.T) {
	for name, cfg := range map[string]mail.Config{
		"no host":  {Port: 587, From: "a@example.com"},
		"bad port": {Host: "smtp.example.com", Port: 70000, From: "a@example.com"},
		"bad from": {Host: "smtp.example.com", Port: 587, From: "not an address"},
	} {
		if _, err := mail.NewSMTP(cfg); err == nil {
			t.Errorf("%s: NewSMTP accepted %+v", name, cfg)
		}
	}
}
