package handlers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/audit"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/views"
)

// universeFields are the universe form's fields, the ones an error can sit next to.
var universeFields = []string{settings.FieldUniverseName, settings.FieldUniverseDescription, settings.FieldUniverseSymbols}

// ShowAdminUniverses handles "GET /admin/universes": the list and the create form, or with
// ?edit=NAME that universe's edit form. htmx's Edit and Cancel links get the form alone.
func (h *Handlers) ShowAdminUniverses(c *fiber.Ctx) error {
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	editor := views.UniverseEditorForm{CSRF: sessionOf(c).CSRF}
	if name := strings.TrimSpace(c.Query("edit")); name != "" {
		u, err := h.settings.Universe(ctx, name)
		if tickstock.ErrorCode(err) == tickstock.ENOTFOUND {
			return tickstock.Errorf(tickstock.ENOTFOUND, "There is no universe named %q.", truncateName(name))
		}
		if err != nil {
			return err
		}
		editor.Editing, editor.Description, editor.Symbols = u.Name, u.Description, strings.Join(u.Symbols, "\n")
	}
	c.Vary("HX-Request", "HX-Target")
	if isHTMX(c) && hxTarget(c) == views.UniverseEditorID {
		return render(c, fiber.StatusOK, views.UniverseEditor(editor))
	}
	return h.renderUniverses(ctx, c, fiber.StatusOK, editor)
}

// CreateAdminUniverse handles "POST /admin/universes": name, description, symbols.
func (h *Handlers) CreateAdminUniverse(c *fiber.Ctx) error {
	values, err := formValues(c)
	if err != nil {
		return err
	}
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	u, err := settings.UniverseFromForm(values, true)
	if err == nil {
		u, err = h.settings.CreateUniverse(ctx, u, universeRecorder(c, audit.ActionUniverseCreate, u.Name))
	}
	invalid, err := asInvalid(err)
	if err != nil {
		return err
	}
	editor := views.UniverseEditorForm{CSRF: sessionOf(c).CSRF}
	status := fiber.StatusOK
	if invalid != nil {
		status = fiber.StatusUnprocessableEntity
		editor.Name, editor.Description, editor.Symbols = first(values, "name"), first(values, "description"), first(values, "symbols")
		editor.Message, editor.Errors = formErrors(invalid, universeFields...)
	} else {
		editor.Flash = fmt.Sprintf("Created %s with %s.", u.Name, symbolCount(len(u.Symbols)))
	}
	return h.answerUniverseEditor(ctx, c, status, editor, invalid == nil)
}

// EditAdminUniverse handles "POST /admin/universes/{name}": description and symbols. The
// edit reaches the settings cache, open streams (at their next emission) and the feed on
// every instance through bus.UniversesChanged.
func (h *Handlers) EditAdminUniverse(c *fiber.Ctx) error {
	values, err := formValues(c)
	if err != nil {
		return err
	}
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	name := pathParam(c, "name")
	if _, err := settings.NormalizeUniverseName(name); err != nil || strings.ToUpper(name) != name {
		return tickstock.Errorf(tickstock.ENOTFOUND, "There is no universe named %q.", truncateName(name))
	}
	u, err := settings.UniverseFromForm(values, false)
	var before, after settings.Universe
	if err == nil {
		u.Name = name
		before, after, err = h.settings.UpdateUniverse(ctx, u, universeRecorder(c, audit.ActionUniverseEdit, name))
	}
	if tickstock.ErrorCode(err) == tickstock.ENOTFOUND {
		return tickstock.Errorf(tickstock.ENOTFOUND, "There is no universe named %q.", name)
	}
	invalid, err := asInvalid(err)
	if err != nil {
		return err
	}
	editor := views.UniverseEditorForm{CSRF: sessionOf(c).CSRF, Editing: name}
	status := fiber.StatusOK
	if invalid != nil {
		status = fiber.StatusUnprocessableEntity
		editor.Description, editor.Symbols = first(values, "description"), first(values, "symbols")
		editor.Message, editor.Errors = formErrors(invalid, universeFields...)
	} else {
		editor.Description, editor.Symbols = after.Description, strings.Join(after.Symbols, "\n")
		added, removed := diffSymbols(before.Symbols, after.Symbols)
		editor.Flash = fmt.Sprintf("Saved %s: %d added, %d removed, %s in all. Open dashboards use it from their next update.",
			name, added, removed, symbolCount(len(after.Symbols)))
	}
	return h.answerUniverseEditor(ctx, c, status, editor, invalid == nil)
}

// answerUniverseEditor answers a universe form: for htmx the form, with the list swapped
// out of band after a save; otherwise the whole page.
func (h *Handlers) answerUniverseEditor(ctx context.Context, c *fiber.Ctx, status int, editor views.UniverseEditorForm, saved bool) error {
	if !isHTMX(c) {
		return h.renderUniverses(ctx, c, status, editor)
	}
	if err := render(c, status, views.UniverseEditor(editor)); err != nil || !saved {
		return err
	}
	list, err := h.universeRows(ctx)
	if err != nil {
		return err
	}
	return views.UniverseList(list, true).Render(c.UserContext(), c.Response().BodyWriter())
}

func (h *Handlers) renderUniverses(ctx context.Context, c *fiber.Ctx, status int, editor views.UniverseEditorForm) error {
	list, err := h.universeRows(ctx)
	if err != nil {
		return err
	}
	return render(c, status, views.AdminUniversesPage(h.page(c, "Universes"), views.AdminUniversesView{Universes: list, Editor: editor}))
}

func (h *Handlers) universeRows(ctx context.Context) ([]views.AdminUniverseRow, error) {
	infos, err := h.settings.Universes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]views.AdminUniverseRow, len(infos))
	for i, u := range infos {
		out[i] = views.AdminUniverseRow{Name: u.Name, Description: u.Description, Size: u.Size}
	}
	return out, nil
}

func diffSymbols(before, after []string) (added, removed int) {
	in := make(map[string]bool, len(before))
	for _, s := range before {
		in[s] = true
	}
	for _, s := range after {
		if !in[s] {
			added++
		}
		delete(in, s)
	}
	return added, len(in)
}

func symbolCount(n int) string {
	if n == 1 {
		return "1 symbol"
	}
	return fmt.Sprintf("%d symbols", n)
}

// truncateName bounds a name echoed in a message.
func truncateName(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
