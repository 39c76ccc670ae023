package config

import (
	"errors"
	"strings"
	"testing"
)

func TestLoadMail(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil || c.SMTP != nil || c.MailFrom != "" || c.BaseURL != "" {
		t.Fatalf("mail is configured by default: %+v %v", c, err)
	}
	tests := []struct {
		url  string
		want SMTP
	}{
		{"smtp://mailer:p%40ss@mail.example.com:2525", SMTP{Host: "mail.example.com", Port: 2525, Username: "mailer", Password: "p@ss"}},
		{"smtp://mail.example.com", SMTP{Host: "mail.example.com", Port: 587}},
		{"smtps://u:p@mail.example.com/", SMTP{Host: "mail.example.com", Port: 465, Username: "u", Password: "p", ImplicitTLS: true}},
		{"smtp://u@[::1]:587", SMTP{Host: "::1", Port: 587, Username: "u"}},
	}
	for _, tt := range tests {
		c, err := Load(env(map[string]string{"TICKSTOCK_SMTP_URL": tt.url, "TICKSTOCK_MAIL_FROM": "TickStock <noreply@example.com>",
			"TICKSTOCK_BASE_URL": "https://tickstock.example.com/"}))
		if err != nil {
			t.Fatalf("Load(%s): %v", tt.url, err)
		}
		if c.SMTP == nil || *c.SMTP != tt.want {
			t.Errorf("SMTP from %s = %+v, want %+v", tt.url, c.SMTP, tt.want)
		}
		if c.MailFrom != "TickStock <noreply@example.com>" || c.BaseURL != "https://tickstock.example.com" {
			t.Errorf("MailFrom %q, BaseURL %q", c.MailFrom, c.BaseURL)
		}
	}
}

func TestLoadBadMail(t *testing.T) {
	from := map[string]string{"TICKSTOCK_MAIL_FROM": "noreply@example.com"}
	smtp := map[string]string{"TICKSTOCK_SMTP_URL": "smtp://u:secret@mail.example.com:587"}
	tests := []struct {
		name, variable, value string
		extra                 map[string]string
	}{
		{"smtp scheme", "TICKSTOCK_SMTP_URL", "http://u:secret@mail.example.com", from},
		{"smtp no host", "TICKSTOCK_SMTP_URL", "smtp://u:secret@:587", from},
		{"smtp bad port", "TICKSTOCK_SMTP_URL", "smtp://u:secret@mail.example.com:0", from},
		{"smtp port text", "TICKSTOCK_SMTP_URL", "smtp://u:secret@mail.example.com:smtp", from},
		{"smtp path", "TICKSTOCK_SMTP_URL", "smtp://u:secret@mail.example.com/inbox", from},
		{"smtp password only", "TICKSTOCK_SMTP_URL", "smtp://:secret@mail.example.com", from},
		{"smtp not a url", "TICKSTOCK_SMTP_URL", "mail.example.com:587", from},
		{"from missing", "TICKSTOCK_MAIL_FROM", "", smtp},
		{"from bad", "TICKSTOCK_MAIL_FROM", "not an address", smtp},
		{"smtp missing", "TICKSTOCK_SMTP_URL", "", from},
		{"base url scheme", "TICKSTOCK_BASE_URL", "ftp://tickstock.example.com", nil},
		{"base url query", "TICKSTOCK_BASE_URL", "https://tickstock.example.com/?x=1", nil},
		{"base url relative", "TICKSTOCK_BASE_URL", "/tickstock", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := map[string]string{tt.variable: tt.value}
			for k, v := range tt.extra {
				kv[k] = v
			}
			_, err := Load(env(kv))
			var fe *FieldError
			if err == nil || !errors.As(err, &fe) || fe.Var != tt.variable || !strings.Contains(err.Error(), tt.variable) {
				t.Fatalf("Load(%s=%q) = %v, want an error naming %s", tt.variable, tt.value, err, tt.variable)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("message leaks a password: %q", err)
			}
		})
	}
}
