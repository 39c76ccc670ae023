package handlers

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/views"
)

// msgLockedOut answers a password form while the email is locked out.
const msgLockedOut = "Too many wrong passwords. Try again in 15 minutes."

// ShowAccount handles "GET /account".
func (h *Handlers) ShowAccount(c *fiber.Ctx) error {
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	v, err := h.accountView(ctx, c)
	if err != nil {
		return err
	}
	return render(c, fiber.StatusOK, views.AccountPage(h.page(c, "Your account"), v))
}

// ChangePassword handles "POST /account/password": current_password and new_password. A
// wrong current password is a 422 that counts toward the lockout; success signs out every
// other session, and this one stays signed in.
func (h *Handlers) ChangePassword(c *fiber.Ctx) error {
	values, err := formValues(c)
	if err != nil {
		return err
	}
	u, st := accountOf(c), sessionOf(c)
	entry := h.auditEntry(c)
	ctx, cancel := timeout(c, 10*time.Second)
	defer cancel()
	err = h.accounts.ChangePassword(ctx, h.counter, *u, st, first(values, "current_password"), first(values, "new_password"))
	form := views.PasswordForm{CSRF: st.CSRF}
	status := fiber.StatusOK
	if status, form.Message, form.Errors, err = h.passwordFailure(c, err, entry, auth.EventPasswordChangeFailure); err != nil {
		return err
	}
	if status == fiber.StatusOK {
		h.audit.Record(auth.EventPasswordChanged, entry)
		form.Saved = "Password changed. You were signed out everywhere else."
	}
	if wantsJSON(c) {
		return answerJSON(c, status, form.Message, form.Errors)
	}
	v, err := h.accountView(ctx, c)
	if err != nil {
		return err
	}
	v.Password = form
	if isHTMX(c) {
		if status == fiber.StatusOK { // the other sessions are gone from the list too
			return render(c, status, templ.Join(views.PasswordSection(form), views.SessionsSection(v.Sessions, true)))
		}
		return render(c, status, views.PasswordSection(form))
	}
	return render(c, status, views.AccountPage(h.page(c, "Your account"), v))
}

// RevokeSession handles "POST /account/sessions/{id}/revoke": {id} is the session's opaque
// handle from the list. The session ends with its streams; another user's, or one already
// ended, is a 404. Revoking this browser's own session signs it out.
func (h *Handlers) RevokeSession(c *fiber.Ctx) error {
	u, st := accountOf(c), sessionOf(c)
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	ended, err := h.sessions.Revoke(ctx, u.ID, c.Params("id"))
	if tickstock.ErrorCode(err) == tickstock.ENOTFOUND && isHTMX(c) {
		list, lerr := h.sessionList(ctx, c)
		if lerr != nil {
			return lerr
		}
		list.Message = tickstock.ErrorMessage(err)
		return render(c, fiber.StatusNotFound, views.SessionsSection(list, false))
	}
	if err != nil {
		return err
	}
	h.audit.Record(auth.EventSessionRevoked, h.auditEntry(c))
	if ended.ID == st.ID {
		return h.signedOut(c, "/auth/login")
	}
	return h.answerSessions(ctx, c, "That session was signed out.")
}

// RevokeOtherSessions handles "POST /account/sessions/revoke-others": every session of the
// user but this one ends, with its streams.
func (h *Handlers) RevokeOtherSessions(c *fiber.Ctx) error {
	u, st := accountOf(c), sessionOf(c)
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	n, err := h.sessions.EndOthers(ctx, u.ID, st.ID, bus.ReasonRevoked)
	if err != nil {
		return err
	}
	h.audit.Record(auth.EventSessionsRevokedOthers, h.auditEntry(c))
	msg := "You were signed out everywhere else."
	if n > 0 {
		msg = "Signed out " + plural(n, "other session", "other sessions") + "."
	}
	return h.answerSessions(ctx, c, msg)
}

// DeleteAccount handles "POST /account/delete": password. The account and every row of it
// are deleted, every session, stream, embed and API token of it ends, and the browser goes
// to the home page. A wrong password is a 422 that counts toward the lockout.
func (h *Handlers) DeleteAccount(c *fiber.Ctx) error {
	values, err := formValues(c)
	if err != nil {
		return err
	}
	u, st := accountOf(c), sessionOf(c)
	entry := h.auditEntry(c)
	ctx, cancel := timeout(c, 10*time.Second)
	defer cancel()
	err = h.accounts.Delete(ctx, h.counter, *u, first(values, "password"))
	form := views.DeleteForm{CSRF: st.CSRF}
	var status int
	if status, form.Message, form.Errors, err = h.passwordFailure(c, err, entry, auth.EventAccountDeleteFailure); err != nil {
		return err
	}
	if status != fiber.StatusOK {
		if wantsJSON(c) {
			return answerJSON(c, status, form.Message, form.Errors)
		}
		if isHTMX(c) {
			return render(c, status, views.DeleteSection(form))
		}
		v, err := h.accountView(ctx, c)
		if err != nil {
			return err
		}
		v.Delete = form
		return render(c, status, views.AccountPage(h.page(c, "Your account"), v))
	}
	// The user's rows are gone, auth_events included: the deletion itself is kept without
	// a user (the log line names the handle for the operator).
	entry.UserID = 0
	h.audit.Record(auth.EventAccountDeleted, entry)
	return h.signedOut(c, "/")
}

// passwordFailure sorts the outcome of a form that asks for the user's password: a
// lockout (429) or a validation failure (422) become the form's message and field errors;
// a wrong password is recorded as failEvent. Any other error comes back for the error
// handler. Success is status 200.
func (h *Handlers) passwordFailure(c *fiber.Ctx, err error, entry auth.AuditEntry, failEvent string) (int, string, map[string]string, error) {
	var locked *auth.ErrLocked
	if errors.As(err, &locked) {
		entry.Email = accountOf(c).Email
		h.audit.Record(auth.EventLockout, entry)
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(locked.RetryAfter.Seconds())+1))
		return fiber.StatusTooManyRequests, msgLockedOut, nil, nil
	}
	invalid, err := asInvalid(err)
	if err != nil {
		return 0, "", nil, err
	}
	if invalid == nil {
		return fiber.StatusOK, "", nil, nil
	}
	if errors.Is(invalid, auth.ErrWrongPassword) {
		entry.Email = accountOf(c).Email
		h.audit.Record(failEvent, entry)
	}
	return fiber.StatusUnprocessableEntity, "", map[string]string{invalid.Field: invalid.Message}, nil
}

// answerSessions answers a revocation: the refreshed list for htmx, else the whole page.
func (h *Handlers) answerSessions(ctx context.Context, c *fiber.Ctx, notice string) error {
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"success": true, "message": notice})
	}
	v, err := h.accountView(ctx, c)
	if err != nil {
		return err
	}
	v.Sessions.Notice = notice
	if isHTMX(c) {
		return render(c, fiber.StatusOK, views.SessionsSection(v.Sessions, false))
	}
	return render(c, fiber.StatusOK, views.AccountPage(h.page(c, "Your account"), v))
}

// signedOut answers a request whose session has just ended on the server: the cookie goes,
// and the browser goes to next.
func (h *Handlers) signedOut(c *fiber.Ctx, next string) error {
	h.clearSessionCookie(c)
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"success": true})
	}
	if isHTMX(c) {
		c.Set("HX-Redirect", next)
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.Redirect(next, fiber.StatusSeeOther)
}

// accountView is the signed-in user's account page as it stands.
func (h *Handlers) accountView(ctx context.Context, c *fiber.Ctx) (views.AccountView, error) {
	u, csrf := accountOf(c), sessionOf(c).CSRF
	list, err := h.sessionList(ctx, c)
	if err != nil {
		return views.AccountView{}, err
	}
	return views.AccountView{Username: u.Username, Email: u.Email, Sessions: list,
		Password: views.PasswordForm{CSRF: csrf}, Delete: views.DeleteForm{CSRF: csrf}}, nil
}

// sessionList is the user's live sessions, this browser's first.
func (h *Handlers) sessionList(ctx context.Context, c *fiber.Ctx) (views.SessionList, error) {
	st := sessionOf(c)
	infos, err := h.sessions.List(ctx, accountOf(c).ID, st.ID)
	if err != nil {
		return views.SessionList{}, err
	}
	l := views.SessionList{CSRF: st.CSRF, Now: time.Now()}
	for _, s := range infos {
		l.Sessions = append(l.Sessions, views.SessionRow{Ref: s.Ref, Current: s.Current, Started: s.Started,
			LastSeen: s.LastSeen, IP: s.IP, Agent: s.Agent})
	}
	return l, nil
}

// answerJSON answers a form post from a program: {"success":true}, or the error.
func answerJSON(c *fiber.Ctx, status int, msg string, errs map[string]string) error {
	if status == fiber.StatusOK {
		return c.JSON(fiber.Map{"success": true})
	}
	for _, m := range errs {
		msg = m
	}
	return c.Status(status).JSON(fiber.Map{"success": false, "error": msg})
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
