package handlers

import (
	"context"
	"time"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock/auth"
	creds "github.com/tickstock/tickstock/credentials"
	"github.com/tickstock/tickstock/views"
)

// credentialPage is one of the two settings pages for credentials: embed links and API
// tokens work the same way (create with a name, shown once, list, revoke by handle).
type credentialPage struct {
	kind           creds.Kind
	path           string // where the page lives and its forms post
	title          string
	page           func(views.Page, views.CredentialsView) templ.Component
	section        func(views.CredentialsView) templ.Component
	created, ended string // the auth events of a creation and a revocation
}

var (
	embedsPage = credentialPage{kind: creds.Embed, path: "/settings/embeds", title: "Embed links",
		page: views.EmbedsPage, section: views.EmbedsSection,
		created: auth.EventEmbedCreated, ended: auth.EventEmbedRevoked}
	tokensPage = credentialPage{kind: creds.API, path: "/settings/tokens", title: "API tokens",
		page: views.TokensPage, section: views.TokensSection,
		created: auth.EventTokenCreated, ended: auth.EventTokenRevoked}
)

// showCredentials answers the page with the user's live credentials of its kind.
func (h *Handlers) showCredentials(c *fiber.Ctx, cp credentialPage) error {
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	v, err := h.credentialsView(ctx, c, cp.kind)
	if err != nil {
		return err
	}
	return render(c, fiber.StatusOK, cp.page(h.page(c, cp.title), v))
}

// createCredential makes one from the posted name and answers with its token, this once:
// 201 with the section (htmx) or the page. The answer must not be cached anywhere.
func (h *Handlers) createCredential(c *fiber.Ctx, cp credentialPage) error {
	values, err := formValues(c)
	if err != nil {
		return err
	}
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	made, err := h.credentials.Create(ctx, cp.kind, accountOf(c).ID, first(values, "name"))
	invalid, err := asInvalid(err)
	if err != nil {
		return err
	}
	v, err := h.credentialsView(ctx, c, cp.kind)
	if err != nil {
		return err
	}
	status := fiber.StatusCreated
	if invalid != nil {
		status = fiber.StatusUnprocessableEntity
		v.Name = first(values, "name")
		v.Message, v.Errors = formErrors(invalid, "name")
	} else {
		v.Created = &views.CreatedCredential{Name: made.Name, Token: made.Token}
		h.audit.Record(cp.created, h.auditEntry(c))
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if isHTMX(c) {
		return render(c, status, cp.section(v))
	}
	return render(c, status, cp.page(h.page(c, cp.title), v))
}

// revokeCredential revokes the credential {id} names, the user's own only (another
// user's gets 404), and answers with the list (htmx) or a redirect to the page.
func (h *Handlers) revokeCredential(c *fiber.Ctx, cp credentialPage) error {
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	gone, err := h.credentials.Revoke(ctx, cp.kind, accountOf(c).ID, c.Params("id"))
	if err != nil {
		return err
	}
	h.audit.Record(cp.ended, h.auditEntry(c))
	if !isHTMX(c) {
		return c.Redirect(cp.path, fiber.StatusSeeOther)
	}
	v, err := h.credentialsView(ctx, c, cp.kind)
	if err != nil {
		return err
	}
	v.Revoked = gone.Name
	return render(c, fiber.StatusOK, cp.section(v))
}

// credentialsView is the page's view model with the user's live credentials of kind k.
func (h *Handlers) credentialsView(ctx context.Context, c *fiber.Ctx, k creds.Kind) (views.CredentialsView, error) {
	list, err := h.credentials.List(ctx, k, accountOf(c).ID)
	if err != nil {
		return views.CredentialsView{}, err
	}
	v := views.CredentialsView{CSRF: sessionOf(c).CSRF, BaseURL: c.BaseURL()}
	for _, cr := range list {
		v.Items = append(v.Items, views.CredentialItem{Handle: cr.Handle, Name: cr.Name, Created: cr.CreatedAt, LastUsed: cr.LastUsed})
	}
	return v, nil
}
