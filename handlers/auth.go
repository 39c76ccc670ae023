package handlers

import (
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/views"
)

// credentials is the login or register input, from a form or a JSON body.
type credentials struct {
	Email    string `json:"email"`
	Username string `json:"username"`
	Password string `json:"password"`
}

func readCredentials(c *fiber.Ctx) (credentials, error) {
	var in credentials
	if isJSONBody(c) {
		err := decodeJSON(c.Body(), &in)
		return in, err
	}
	values, err := formValues(c)
	if err != nil {
		return in, err
	}
	in.Email, in.Username, in.Password = first(values, "email"), first(values, "username"), first(values, "password")
	return in, nil
}

// ShowLogin handles "GET /auth/login".
func (h *Handlers) ShowLogin(c *fiber.Ctx) error {
	if accountOf(c) != nil {
		return c.Redirect("/dashboard", fiber.StatusSeeOther)
	}
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"success": true, "csrf_token": sessionOf(c).CSRF})
	}
	form := views.AuthForm{CSRF: sessionOf(c).CSRF}
	if c.Query("ended") != "" { // a fixed text: nothing from the URL reaches the page
		form.Notice = views.MsgSessionEnded
	}
	return render(c, fiber.StatusOK, views.LoginPage(h.page(c, "Log in"), form))
}

// Login handles "POST /auth/login".
func (h *Handlers) Login(c *fiber.Ctx) error {
	in, err := readCredentials(c)
	if err != nil {
		return err
	}
	form := views.AuthForm{CSRF: sessionOf(c).CSRF, Email: in.Email}
	entry := auth.AuditEntry{IP: h.clientIP(c), Email: in.Email}
	if in.Email == "" || in.Password == "" {
		return h.authFailed(c, fiber.StatusUnprocessableEntity, form, "Enter your email and password.", views.LoginForm, views.LoginPage, "Log in")
	}
	ctx, cancel := timeout(c, 10*time.Second)
	defer cancel()
	u, err := h.accounts.Authenticate(ctx, h.counter, in.Email, in.Password)
	var locked *auth.ErrLocked
	switch {
	case errors.As(err, &locked):
		h.audit.Record(auth.EventLockout, entry)
		secs := int(locked.RetryAfter.Seconds()) + 1
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
		msg := "Too many failed attempts for this email. Try again in 15 minutes."
		return h.authFailed(c, fiber.StatusTooManyRequests, form, msg, views.LoginForm, views.LoginPage, "Log in")
	case tickstock.ErrorCode(err) == tickstock.EUNAUTHORIZED:
		h.audit.Record(auth.EventLoginFailure, entry)
		return h.authFailed(c, fiber.StatusUnauthorized, form, auth.MsgInvalidLogin, views.LoginForm, views.LoginPage, "Log in")
	case err != nil:
		return err
	}
	return h.signIn(c, u, auth.EventLoginSuccess)
}

// ShowRegister handles "GET /auth/register".
func (h *Handlers) ShowRegister(c *fiber.Ctx) error {
	if !h.signupOpen {
		return fiber.ErrNotFound
	}
	if accountOf(c) != nil {
		return c.Redirect("/dashboard", fiber.StatusSeeOther)
	}
	return render(c, fiber.StatusOK, views.RegisterPage(h.page(c, "Create your account"), views.AuthForm{CSRF: sessionOf(c).CSRF}))
}

// Register handles "POST /auth/register".
func (h *Handlers) Register(c *fiber.Ctx) error {
	if !h.signupOpen {
		return fiber.ErrNotFound
	}
	in, err := readCredentials(c)
	if err != nil {
		return err
	}
	ctx, cancel := timeout(c, 10*time.Second)
	defer cancel()
	u, err := h.accounts.Create(ctx, auth.NewAccount{Email: in.Email, Username: in.Username, Password: in.Password, Role: auth.RoleUser})
	if tickstock.ErrorCode(err) == tickstock.EINVALID {
		var appErr *tickstock.Error
		errors.As(err, &appErr)
		form := views.AuthForm{CSRF: sessionOf(c).CSRF, Email: in.Email, Username: in.Username,
			Errors: map[string]string{appErr.Field: appErr.Message}}
		return h.authFailed(c, fiber.StatusUnprocessableEntity, form, "", views.RegisterForm, views.RegisterPage, "Create your account")
	}
	if err != nil {
		return err
	}
	return h.signIn(c, u, auth.EventRegister)
}

// Logout handles "POST /auth/logout": the session ends on the server, with its streams.
func (h *Handlers) Logout(c *fiber.Ctx) error {
	st := sessionOf(c)
	entry := h.auditEntry(c)
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	if err := h.sessions.End(ctx, st, bus.ReasonLogout); err != nil {
		return err
	}
	h.clearSessionCookie(c)
	if st.SignedIn() {
		h.audit.Record(auth.EventLogout, entry)
	}
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"success": true})
	}
	if c.Get("HX-Request") == "true" {
		c.Set("HX-Redirect", "/auth/login")
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.Redirect("/auth/login", fiber.StatusSeeOther)
}

// signIn starts the session after a good login or a sign-up and answers for the client.
// The browser's previous session ends; if it was signed in, so do its streams.
func (h *Handlers) signIn(c *fiber.Ctx, u db.User, event string) error {
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	st, err := h.sessions.Login(ctx, sessionOf(c), u.ID, u.Handle, h.device(c))
	if err != nil {
		return err
	}
	h.setSessionCookie(c, st)
	c.Set("X-CSRF-Token", st.CSRF) // the new session's token, for programs that post next
	h.audit.Record(event, auth.AuditEntry{UserID: u.ID, Handle: u.Handle, IP: h.clientIP(c)})
	if err := h.accounts.RecordLogin(ctx, u.ID); err != nil {
		// The user is signed in; only the admin list's "last login" stays behind.
		h.logger.Warn("record last login", "user", u.Handle, "err", err)
	}
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"success": true, "user": fiber.Map{"username": u.Username, "email": u.Email, "role": u.Role}})
	}
	if c.Get("HX-Request") == "true" {
		c.Set("HX-Redirect", "/dashboard")
		return c.SendStatus(fiber.StatusOK)
	}
	return c.Redirect("/dashboard", fiber.StatusSeeOther)
}

// authFailed answers a failed login or sign-up: JSON, the form fragment for htmx, or the
// whole page, always with the same status.
func (h *Handlers) authFailed(c *fiber.Ctx, status int, form views.AuthForm, msg string,
	fragment func(views.AuthForm) templComponent, full func(views.Page, views.AuthForm) templComponent, title string) error {
	form.Message = msg
	if wantsJSON(c) {
		text := msg
		if text == "" {
			for _, m := range form.Errors {
				text = m
			}
		}
		return c.Status(status).JSON(fiber.Map{"success": false, "error": text})
	}
	if c.Get("HX-Request") == "true" {
		return render(c, status, fragment(form))
	}
	return render(c, status, full(h.page(c, title), form))
}
