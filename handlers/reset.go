package handlers

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/views"
)

// ShowForgot handles "GET /auth/forgot".
func (h *Handlers) ShowForgot(c *fiber.Ctx) error {
	return render(c, fiber.StatusOK, views.ForgotPage(h.page(c, "Forgot your password?"), views.ForgotForm{CSRF: sessionOf(c).CSRF}))
}

// RequestReset handles "POST /auth/forgot": email. Every well-formed address gets the same
// answer in about the same time, whether or not an account has it: the request is only
// counted and queued here (see auth.Resets.Request).
func (h *Handlers) RequestReset(c *fiber.Ctx) error {
	values, err := formValues(c)
	if err != nil {
		return err
	}
	email := strings.TrimSpace(first(values, "email"))
	form := views.ForgotForm{CSRF: sessionOf(c).CSRF, Email: email}
	status := fiber.StatusOK
	if verr := auth.ValidEmail(email); verr != nil {
		invalid, _ := asInvalid(verr)
		status, form.Errors = fiber.StatusUnprocessableEntity, map[string]string{"email": invalid.Message}
	} else {
		ctx, cancel := timeout(c, 5*time.Second)
		defer cancel()
		if err := h.resets.Request(ctx, email, h.clientIP(c)); err != nil {
			return err
		}
		form.Sent = true
	}
	if wantsJSON(c) {
		if status != fiber.StatusOK {
			return answerJSON(c, status, "", form.Errors)
		}
		return c.JSON(fiber.Map{"success": true, "message": views.MsgResetSent})
	}
	if isHTMX(c) {
		return render(c, status, views.ForgotSection(form))
	}
	return render(c, status, views.ForgotPage(h.page(c, "Forgot your password?"), form))
}

// ShowReset handles "GET /auth/reset/{token}": the new-password form for a link that still
// works; a used or expired link gets 410 and an unknown one 404, with a page that says so.
func (h *Handlers) ShowReset(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store") // the address holds a secret
	token := c.Params("token")
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	state, err := h.resets.Check(ctx, token)
	if err != nil {
		return err
	}
	if state != auth.ResetValid {
		return h.resetGone(c, state)
	}
	form := views.ResetForm{CSRF: sessionOf(c).CSRF, Action: auth.ResetPath + token}
	return render(c, fiber.StatusOK, views.ResetPage(h.page(c, "Choose a new password"), form))
}

// ResetPassword handles "POST /auth/reset/{token}": password. The link is spent, every
// session of the user ends, and this browser is signed in afresh and goes to the dashboard.
func (h *Handlers) ResetPassword(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	values, err := formValues(c)
	if err != nil {
		return err
	}
	token := c.Params("token")
	ctx, cancel := timeout(c, 10*time.Second)
	defer cancel()
	u, st, err := h.resets.Complete(ctx, token, first(values, "password"), sessionOf(c), h.device(c))
	var gone *auth.ResetError
	if errors.As(err, &gone) {
		return h.resetGone(c, gone.State)
	}
	invalid, err := asInvalid(err)
	if err != nil {
		return err
	}
	if invalid != nil {
		form := views.ResetForm{CSRF: sessionOf(c).CSRF, Action: auth.ResetPath + token,
			Errors: map[string]string{invalid.Field: invalid.Message}}
		if wantsJSON(c) {
			return answerJSON(c, fiber.StatusUnprocessableEntity, "", form.Errors)
		}
		if isHTMX(c) {
			return render(c, fiber.StatusUnprocessableEntity, views.ResetSection(form))
		}
		return render(c, fiber.StatusUnprocessableEntity, views.ResetPage(h.page(c, "Choose a new password"), form))
	}
	h.setSessionCookie(c, st)
	c.Set("X-CSRF-Token", st.CSRF)
	h.audit.Record(auth.EventPasswordReset, auth.AuditEntry{UserID: u.ID, Handle: u.Handle, IP: h.clientIP(c)})
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"success": true, "user": fiber.Map{"username": u.Username, "email": u.Email, "role": u.Role}})
	}
	if isHTMX(c) {
		c.Set("HX-Redirect", "/dashboard")
		return c.SendStatus(fiber.StatusOK)
	}
	return c.Redirect("/dashboard", fiber.StatusSeeOther)
}

// resetGone answers a link that cannot be used: 410 when it was used or has expired, 404
// when it was never made. It never shows the form.
func (h *Handlers) resetGone(c *fiber.Ctx, state auth.ResetState) error {
	g := views.ResetGone{Status: fiber.StatusNotFound, Title: "This link is not valid",
		Message: "This password reset link is not one we made, or it is too old. Ask for a new one."}
	switch state {
	case auth.ResetUsed:
		g = views.ResetGone{Status: fiber.StatusGone, Title: "This link was already used",
			Message: "Each password reset link works once. If you still need to reset your password, ask for a new link."}
	case auth.ResetExpired:
		g = views.ResetGone{Status: fiber.StatusGone, Title: "This link has expired",
			Message: "Password reset links work for 30 minutes. Ask for a new one."}
	}
	if wantsJSON(c) {
		return c.Status(g.Status).JSON(fiber.Map{"success": false, "error": g.Message})
	}
	if isHTMX(c) {
		return render(c, g.Status, views.ResetGoneBox(g))
	}
	return render(c, g.Status, views.ResetGonePage(h.page(c, g.Title), g))
}
