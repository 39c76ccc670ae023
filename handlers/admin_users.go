package handlers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/audit"
	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/views"
)

// usersPerPage is the user list's page size.
const usersPerPage = 50

// ListAdminUsers handles "GET /admin/users": search by email or username, role and status,
// paged. htmx's search gets the results fragment.
func (h *Handlers) ListAdminUsers(c *fiber.Ctx) error {
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	q := auth.UserQuery{Search: c.Query("q"), Role: c.Query("role"), Status: c.Query("status"),
		Page: pageParam(c), PerPage: usersPerPage}
	v := views.AdminUsersView{Query: strings.TrimSpace(q.Search), Role: q.Role, Status: q.Status, Page: q.Page, PerPage: usersPerPage}
	status := fiber.StatusOK
	page, err := h.accounts.Search(ctx, q)
	invalid, err := asInvalid(err)
	if err != nil {
		return err
	}
	if invalid != nil {
		status, v.Message = fiber.StatusUnprocessableEntity, invalid.Message
		v.Role, v.Status = "", "" // show the form's defaults for what could not be read
	}
	v.Total = page.Total
	for _, u := range page.Users {
		v.Users = append(v.Users, views.AdminUserRow{Handle: u.Handle, Email: u.Email, Username: u.Username,
			Role: u.Role, Disabled: u.Disabled, Created: u.CreatedAt.Time, LastLogin: u.LastLoginAt.Time})
	}
	// The same address answers the search's fragment and the whole page (htmx pushes it to
	// the history), so caches must tell them apart, and a history restore gets the page.
	c.Vary("HX-Request", "HX-Target")
	if isHTMX(c) && hxTarget(c) == views.AdminUserResultsID && c.Get("HX-History-Restore-Request") != "true" {
		return render(c, status, views.AdminUserResults(v))
	}
	return render(c, status, views.AdminUsersPage(h.page(c, "Users"), v))
}

// targetUser reads the user the route's {handle} names (404 when there is none).
func (h *Handlers) targetUser(ctx context.Context, c *fiber.Ctx) (db.User, error) {
	handle := pathParam(c, "handle")
	if err := validHandle(handle); err != nil {
		return db.User{}, err
	}
	u, err := h.accounts.ByHandle(ctx, handle)
	if tickstock.ErrorCode(err) == tickstock.ENOTFOUND {
		return db.User{}, tickstock.Errorf(tickstock.ENOTFOUND, "There is no such user.")
	}
	return u, err
}

// ShowAdminUser handles "GET /admin/users/{handle}".
func (h *Handlers) ShowAdminUser(c *fiber.Ctx) error {
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	u, err := h.targetUser(ctx, c)
	if err != nil {
		return err
	}
	v, err := h.adminUserView(ctx, c, u)
	if err != nil {
		return err
	}
	return h.renderAdminUser(c, fiber.StatusOK, v)
}

func (h *Handlers) renderAdminUser(c *fiber.Ctx, status int, v views.AdminUserView) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return render(c, status, views.AdminUserPage(h.page(c, v.User.Username+" · Users"), v))
}

// renderSection answers an htmx post on a user's page with the section it swaps and, after
// a change, the user's audit section out of band, so the new entry shows at once.
func (h *Handlers) renderSection(c *fiber.Ctx, status int, section templComponent, v views.AdminUserView, changed bool) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	if err := render(c, status, section); err != nil || !changed {
		return err
	}
	return views.AdminUserAudit(v.User.Handle, v.Audit, true).Render(c.UserContext(), c.Response().BodyWriter())
}

// adminUserView is the admin's page about u, with the values stored now.
func (h *Handlers) adminUserView(ctx context.Context, c *fiber.Ctx, u db.User) (views.AdminUserView, error) {
	us, err := h.settings.Get(ctx, u.ID)
	if err != nil {
		return views.AdminUserView{}, err
	}
	list, err := h.settings.UniversesFor(ctx, u.ID)
	if err != nil {
		return views.AdminUserView{}, err
	}
	events, err := h.audit.RecentForUser(ctx, u.ID, 20)
	if err != nil {
		return views.AdminUserView{}, err
	}
	trail, _, err := h.adminAudit.List(ctx, audit.Filter{TargetHandle: u.Handle, PerPage: 20})
	if err != nil {
		return views.AdminUserView{}, err
	}
	csrf := sessionOf(c).CSRF
	base := "/admin/users/" + u.Handle
	v := views.AdminUserView{
		User: views.AdminUserRow{Handle: u.Handle, Email: u.Email, Username: u.Username, Role: u.Role,
			Disabled: u.Disabled, Created: u.CreatedAt.Time, LastLogin: u.LastLoginAt.Time},
		Filters: views.FilterForm{CSRF: csrf, Action: base + "/filters", Filters: us.Filters,
			SavedNote: "Saved. " + u.Username + "'s dashboard applies these filters from its next update."},
		Account: views.AdminAccountForm{CSRF: csrf, Handle: u.Handle, Disabled: u.Disabled, Self: u.ID == accountOf(c).ID},
		Audit:   trail,
	}
	for _, t := range settings.TrackerOptions() {
		v.Universes = append(v.Universes, views.UniverseForm{CSRF: csrf, Action: base + "/universes", Tracker: t,
			Universes: list, Selected: us.Selections.For(t),
			SavedNote: "Saved. " + u.Username + "'s dashboard follows these universes from its next update."})
	}
	if h.resets != nil {
		v.Reset = &views.AdminResetForm{CSRF: csrf, Handle: u.Handle, Disabled: u.Disabled}
	}
	for _, e := range events {
		v.AuthEvents = append(v.AuthEvents, views.AdminAuthEvent{Kind: e.Kind, IP: e.Ip, At: e.CreatedAt.Time})
	}
	return v, nil
}

// SaveAdminUserUniverses handles "POST /admin/users/{handle}/universes": the user's own
// universe form, saved for them through the same validation.
func (h *Handlers) SaveAdminUserUniverses(c *fiber.Ctx) error {
	values, err := formValues(c)
	if err != nil {
		return err
	}
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	u, err := h.targetUser(ctx, c)
	if err != nil {
		return err
	}
	tracker, universes, err := settings.SelectionFromForm(values)
	if err == nil {
		_, err = h.settings.AdminSaveSelection(ctx, u.ID, tracker, universes, userRecorder(c, audit.ActionUserUniverses, u))
	}
	invalid, err := asInvalid(err)
	if err != nil {
		return err
	}
	v, err := h.adminUserView(ctx, c, u)
	if err != nil {
		return err
	}
	i, status := markUniverseForm(v.Universes, universeSection(c, values, tracker, invalid), values, invalid)
	if i < 0 {
		return invalid // no section to answer with: the error handler's answer
	}
	if isHTMX(c) {
		return h.renderSection(c, status, views.UniverseFormSection(v.Universes[i]), v, invalid == nil)
	}
	return h.renderAdminUser(c, status, v)
}

// SaveAdminUserFilters handles "POST /admin/users/{handle}/filters": the user's own filter
// form, saved for them through the same validation.
func (h *Handlers) SaveAdminUserFilters(c *fiber.Ctx) error {
	values, err := formValues(c)
	if err != nil {
		return err
	}
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	u, err := h.targetUser(ctx, c)
	if err != nil {
		return err
	}
	f, err := settings.FiltersFromForm(values)
	if err == nil {
		_, err = h.settings.AdminSaveFilters(ctx, u.ID, f, userRecorder(c, audit.ActionUserFilters, u))
	}
	invalid, err := asInvalid(err)
	if err != nil {
		return err
	}
	v, err := h.adminUserView(ctx, c, u)
	if err != nil {
		return err
	}
	status := fiber.StatusOK
	if invalid == nil {
		v.Filters.Saved = true
	} else {
		status = fiber.StatusUnprocessableEntity
		v.Filters.Message, v.Filters.Errors = formErrors(invalid, filterFields...)
	}
	if isHTMX(c) {
		return h.renderSection(c, status, views.FilterFormSection(v.Filters), v, invalid == nil)
	}
	return h.renderAdminUser(c, status, v)
}

// accountState is what an audit entry records of a disable or enable.
type accountState struct {
	Disabled bool `json:"disabled"`
}

// DisableAdminUser handles "POST /admin/users/{handle}/disable": the user is signed out
// everywhere (sessions, streams, and through bus.UserEnded their embeds and tokens) and
// cannot sign in. An admin cannot disable their own account.
func (h *Handlers) DisableAdminUser(c *fiber.Ctx) error {
	return h.setUserDisabled(c, true)
}

// EnableAdminUser handles "POST /admin/users/{handle}/enable".
func (h *Handlers) EnableAdminUser(c *fiber.Ctx) error {
	return h.setUserDisabled(c, false)
}

func (h *Handlers) setUserDisabled(c *fiber.Ctx, disable bool) error {
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	u, err := h.targetUser(ctx, c)
	if err != nil {
		return err
	}
	status, flash, msg := fiber.StatusOK, "", ""
	action := audit.ActionUserEnable
	if disable {
		action = audit.ActionUserDisable
	}
	rec := userRecorder(c, action, u)
	hook := func(ctx context.Context, q *db.Queries, before, after db.User) error {
		return rec(ctx, q, accountState{before.Disabled}, accountState{after.Disabled})
	}
	switch {
	case disable && u.ID == accountOf(c).ID:
		status, msg = fiber.StatusUnprocessableEntity, "You cannot disable your own account: you would lock yourself out of the admin pages. Another admin can."
	case disable:
		_, err = h.accounts.Disable(ctx, u.Handle, hook)
		flash = "Disabled. " + u.Username + " was signed out everywhere and cannot sign in."
	default:
		_, err = h.accounts.Enable(ctx, u.Handle, hook)
		flash = "Enabled. " + u.Username + " can sign in again."
	}
	if err != nil {
		return err
	}
	if status == fiber.StatusOK {
		kind := auth.EventUserEnabled
		if disable {
			kind = auth.EventUserDisabled
		}
		h.audit.Record(kind, auth.AuditEntry{UserID: u.ID, Handle: u.Handle, IP: h.clientIP(c), Path: c.Path()})
		if u, err = h.accounts.ByHandle(ctx, u.Handle); err != nil {
			return err
		}
	}
	v, err := h.adminUserView(ctx, c, u)
	if err != nil {
		return err
	}
	v.Account.Flash, v.Account.Message = flash, msg
	if isHTMX(c) {
		return h.renderSection(c, status, views.AdminAccountSection(v.Account), v, status == fiber.StatusOK)
	}
	return h.renderAdminUser(c, status, v)
}

// MakeAdminResetLink handles "POST /admin/users/{handle}/reset-link": a single-use password
// reset link, shown once in this answer and never again (only its hash is stored, by
// auth.Resets). The audit entry records that a link was made, not the link; a link whose
// entry could not be stored is never shown.
func (h *Handlers) MakeAdminResetLink(c *fiber.Ctx) error {
	if h.resets == nil {
		return tickstock.Errorf(tickstock.ENOTFOUND, "Password-reset links are not available on this server.")
	}
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	u, err := h.targetUser(ctx, c)
	if err != nil {
		return err
	}
	v, err := h.adminUserView(ctx, c, u)
	if err != nil {
		return err
	}
	status := fiber.StatusOK
	if u.Disabled {
		status, v.Reset.Message = fiber.StatusUnprocessableEntity, "This account is disabled. Enable it before making a reset link."
	} else {
		link, err := h.resets.Create(ctx, u.ID)
		if err != nil {
			return fmt.Errorf("make reset link: %w", err)
		}
		err = h.adminAudit.Record(ctx, audit.Entry{Actor: actor(c), Action: audit.ActionUserResetLink,
			TargetKind: audit.TargetUser, TargetUserID: u.ID, TargetName: u.Username,
			After: map[string]string{"reset_link": "issued"}})
		if err != nil {
			return fmt.Errorf("make reset link: %w", err)
		}
		h.audit.Record(auth.EventResetLinkCreated, auth.AuditEntry{UserID: u.ID, Handle: u.Handle, IP: h.clientIP(c)})
		v.Reset.Link = link.URL
		if v.Audit, _, err = h.adminAudit.List(ctx, audit.Filter{TargetHandle: u.Handle, PerPage: 20}); err != nil {
			return err
		}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if isHTMX(c) {
		return h.renderSection(c, status, views.AdminResetSection(*v.Reset), v, status == fiber.StatusOK)
	}
	return h.renderAdminUser(c, status, v)
}
