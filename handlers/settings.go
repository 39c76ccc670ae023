package handlers

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/views"
)

// The settings forms post here; admins' copies of the forms post elsewhere.
const (
	pathUniverseForm = "/settings/universes"
	pathFilterForm   = "/settings/filters"
)

// filterFields are the filter form's fields, the ones an error can sit next to.
var filterFields = []string{
	settings.FieldMinCount, settings.FieldMinVolume, settings.FieldTrendStrength,
	settings.FieldTrendDirection, settings.FieldSurgeStrength, settings.FieldSurgeTrigger,
	settings.FieldPriceRanges, settings.FieldAlertsEnabled, settings.FieldAlertsSound, settings.FieldAlertsNotify,
	settings.FieldOneRow,
}

// ShowSettings handles "GET /settings".
func (h *Handlers) ShowSettings(c *fiber.Ctx) error {
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	v, err := h.settingsView(ctx, c)
	if err != nil {
		return err
	}
	return render(c, fiber.StatusOK, views.SettingsPage(h.page(c, "Settings"), v))
}

// SaveUniverses handles "POST /settings/universes".
func (h *Handlers) SaveUniverses(c *fiber.Ctx) error {
	values, err := formValues(c)
	if err != nil {
		return err
	}
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	tracker, universes, err := settings.SelectionFromForm(values)
	if err == nil {
		_, err = h.settings.SaveSelection(ctx, accountOf(c).ID, tracker, universes)
	}
	invalid, err := asInvalid(err)
	if err != nil {
		return err
	}

	v, err := h.settingsView(ctx, c)
	if err != nil {
		return err
	}
	i, status := markUniverseForm(v.Universes, universeSection(c, values, tracker, invalid), values, invalid)
	switch {
	case invalid == nil || i >= 0:
	case isHTMX(c):
		return invalid // no section to answer with: the error handler's fragment
	default:
		status = fiber.StatusUnprocessableEntity
		v.Message, _ = formErrors(invalid)
	}
	if isHTMX(c) {
		return render(c, status, views.UniverseFormSection(v.Universes[i]))
	}
	return render(c, status, views.SettingsPage(h.page(c, "Settings"), v))
}

// SaveFilters handles "POST /settings/filters".
func (h *Handlers) SaveFilters(c *fiber.Ctx) error {
	values, err := formValues(c)
	if err != nil {
		return err
	}
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	f, err := settings.FiltersFromForm(values)
	if err == nil {
		_, err = h.settings.SaveFilters(ctx, accountOf(c).ID, f)
	}
	invalid, err := asInvalid(err)
	if err != nil {
		return err
	}
	v, err := h.settingsView(ctx, c)
	if err != nil {
		return err
	}
	status := fiber.StatusOK
	if invalid == nil {
		v.Filters.Saved = true
	} else {
		// Nothing was stored; the form shows what was sent, the bad field marked, so
		// fixing one field never costs the other edits.
		status = fiber.StatusUnprocessableEntity
		v.Filters.Message, v.Filters.Errors = formErrors(invalid, filterFields...)
		v.Filters.Filters, v.Filters.Typed = postedFilters(values, v.Filters.Filters)
	}
	if isHTMX(c) {
		return render(c, status, views.FilterFormSection(v.Filters))
	}
	return render(c, status, views.SettingsPage(h.page(c, "Settings"), v))
}

// settingsView is the signed-in user's settings page with the values stored now.
func (h *Handlers) settingsView(ctx context.Context, c *fiber.Ctx) (views.SettingsView, error) {
	u := accountOf(c)
	us, err := h.settings.Get(ctx, u.ID)
	if err != nil {
		return views.SettingsView{}, err
	}
	list, err := h.settings.UniversesFor(ctx, u.ID)
	if err != nil {
		return views.SettingsView{}, err
	}
	csrf := sessionOf(c).CSRF
	v := views.SettingsView{
		Username: u.Username,
		Filters:  views.FilterForm{CSRF: csrf, Action: pathFilterForm, Filters: us.Filters},
	}
	for _, t := range settings.TrackerOptions() {
		v.Universes = append(v.Universes, views.UniverseForm{
			CSRF: csrf, Action: pathUniverseForm, Tracker: t, Universes: list, Selected: us.Selections.For(t),
		})
	}
	return v, nil
}

// postedUniverses is the universe form's selection as sent, to show again after an error.
// universeSection is the universe form a save answers with: the saved tracker; after an
// error the posted one, or (when that is not a tracker) the section htmx swaps into.
func universeSection(c *fiber.Ctx, values map[string][]string, tracker string, invalid *tickstock.Error) string {
	if invalid == nil {
		return tracker
	}
	section := strings.TrimSpace(first(values, settings.FieldTracker))
	if !slices.Contains(settings.TrackerOptions(), section) {
		section = strings.TrimPrefix(hxTarget(c), "universes-")
	}
	return section
}

// markUniverseForm marks the form of section saved, or after invalid with its message and
// the posted universes kept (so a correction starts from what was typed). It returns the
// form's index, -1 when section names none, and the status to answer with.
func markUniverseForm(forms []views.UniverseForm, section string, values map[string][]string, invalid *tickstock.Error) (int, int) {
	i := slices.IndexFunc(forms, func(f views.UniverseForm) bool { return f.Tracker == section })
	switch {
	case invalid == nil:
		forms[i].Saved = true
		return i, fiber.StatusOK
	case i >= 0:
		forms[i].Message, forms[i].Errors = formErrors(invalid, settings.FieldUniverses)
		forms[i].Selected = postedUniverses(values)
	}
	return i, fiber.StatusUnprocessableEntity
}

func postedUniverses(values map[string][]string) []string {
	return postedList(values[settings.FieldUniverses])
}

// postedFilters is the filter form as sent, over the stored filters for fields it lacks,
// to show again after an error: choices as chosen (a value no option has shows no
// choice), and the number boxes as typed.
func postedFilters(values map[string][]string, stored settings.Filters) (settings.Filters, map[string]string) {
	f := stored.Clone()
	one := func(field string) (string, bool) {
		vs := values[field]
		if len(vs) == 0 {
			return "", false
		}
		return strings.TrimSpace(vs[0]), true
	}
	typed := make(map[string]string, 2)
	for _, field := range []string{settings.FieldMinCount, settings.FieldMinVolume} {
		if s, ok := one(field); ok {
			typed[field] = s
		}
	}
	for field, dst := range map[string]*string{
		settings.FieldTrendStrength:  &f.Trends.MinStrength,
		settings.FieldTrendDirection: &f.Trends.Direction,
		settings.FieldSurgeStrength:  &f.Surges.MinStrength,
		settings.FieldSurgeTrigger:   &f.Surges.Trigger,
	} {
		if s, ok := one(field); ok {
			*dst = s
		}
	}
	// Checkboxes send nothing when none is ticked: the form sent exactly these.
	f.Surges.PriceRanges = postedList(values[settings.FieldPriceRanges])
	s, _ := one(settings.FieldOneRow)
	f.Display.OneRowPerSymbol = s == "true" || s == "on"
	return f, typed
}

func postedList(vs []string) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, strings.TrimSpace(v))
	}
	return out
}

// asInvalid splits a validation failure (422), which the forms show next to their fields,
// from every other error, which goes to the error handler.
func asInvalid(err error) (*tickstock.Error, error) {
	var e *tickstock.Error
	if errors.As(err, &e) && e.Code == tickstock.EINVALID {
		return e, nil
	}
	return nil, err
}

// formErrors places a validation error: next to its field when the form has that field
// (with a short note above the form), otherwise above the form.
func formErrors(e *tickstock.Error, fields ...string) (msg string, errs map[string]string) {
	if slices.Contains(fields, e.Field) {
		return "Nothing was saved. Please correct the marked field.", map[string]string{e.Field: e.Message}
	}
	return "Nothing was saved. " + e.Message, nil
}

// isHTMX reports whether htmx sent the request, so the answer is a fragment.
func isHTMX(c *fiber.Ctx) bool { return c.Get("HX-Request") == "true" }
