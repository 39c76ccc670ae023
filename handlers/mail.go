package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/mail"
	"github.com/tickstock/tickstock/views"
)

// resetMailer renders reset mails from the templ components in views (a plain-text body
// and an HTML alternative) and hands them to a mail.Sender.
type resetMailer struct {
	sender mail.Sender
	logger *slog.Logger
}

// NewResetMailer returns what auth.Resets sends links through. Without a sender (no
// TICKSTOCK_SMTP_URL) each link is written to the log for the operator to pass on: the one
// place a reset token is ever logged.
func NewResetMailer(sender mail.Sender, logger *slog.Logger) auth.ResetMailer {
	return resetMailer{sender: sender, logger: logger}
}

// SendReset implements auth.ResetMailer.
func (m resetMailer) SendReset(ctx context.Context, r auth.ResetMail) error {
	if m.sender == nil {
		m.logger.Warn("password reset link: no SMTP server is configured (TICKSTOCK_SMTP_URL), so pass this link to the account holder yourself",
			"to", r.To, "link", r.Link, "expires", r.Expires.UTC().Format("2006-01-02 15:04 UTC"))
		return nil
	}
	v := views.ResetMailView{Username: r.Username, Link: r.Link, Expires: r.Expires}
	text, err := views.PlainText(ctx, views.ResetMailText(v))
	if err != nil {
		return fmt.Errorf("render reset mail text: %w", err)
	}
	var html strings.Builder
	if err := views.ResetMailHTML(v).Render(ctx, &html); err != nil {
		return fmt.Errorf("render reset mail HTML: %w", err)
	}
	return m.sender.Send(ctx, mail.Message{To: r.To, Subject: views.ResetMailSubject, Text: text, HTML: html.String()})
}
