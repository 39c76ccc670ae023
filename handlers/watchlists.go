package handlers

import (
	"cmp"
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/views"
)

// watchlistSorts are the orders GET /watchlists?sort= knows; the first is the default.
var watchlistSorts = []string{"symbol", "-symbol", "price", "-price", "pct", "-pct"}

// ShowWatchlists handles "GET /watchlists". With ?sort= every list is sorted by symbol,
// price or % from open ("-" first: descending); an htmx request targeting the lists gets
// the section alone.
func (h *Handlers) ShowWatchlists(c *fiber.Ctx) error {
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	v, err := h.watchlistsView(ctx, c, sortOf(c.Query("sort")))
	if err != nil {
		return err
	}
	if isHTMX(c) && c.Get("HX-Target") == views.WatchlistsSectionID {
		return render(c, fiber.StatusOK, views.WatchlistsSection(v))
	}
	return render(c, fiber.StatusOK, views.WatchlistsPage(h.page(c, "Watchlists"), v))
}

// CreateWatchlist handles "POST /watchlists" (form: name, and optionally symbols).
func (h *Handlers) CreateWatchlist(c *fiber.Ctx) error {
	values, err := formValues(c)
	if err != nil {
		return err
	}
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	uid := accountOf(c).ID
	name, symbols, err := settings.NewWatchlistFromForm(values)
	var w settings.Watchlist
	if err == nil {
		w, err = h.settings.CreateWatchlist(ctx, uid, name, symbols)
	}
	invalid, err := asInvalid(err)
	if err != nil {
		return err
	}
	if invalid == nil && !isHTMX(c) {
		return c.Redirect("/watchlists#wl-"+w.Handle, fiber.StatusSeeOther)
	}
	v, err := h.watchlistsView(ctx, c, currentSort(c))
	if err != nil {
		return err
	}
	status := fiber.StatusOK
	if invalid != nil {
		status = fiber.StatusUnprocessableEntity
		v.Create.Message, v.Create.Errors = formErrors(invalid, settings.FieldWatchlistName, settings.FieldWatchlistSymbols)
		v.Create.Name = first(values, settings.FieldWatchlistName)
		v.Create.Symbols = strings.Join(values[settings.FieldWatchlistSymbols], ", ")
	} else {
		v.Flash = "Created " + w.Universe() + ". It is now among your universes in Settings."
	}
	if isHTMX(c) {
		return render(c, status, views.WatchlistsSection(v))
	}
	return render(c, status, views.WatchlistsPage(h.page(c, "Watchlists"), v))
}

// EditWatchlist handles "POST /watchlists/{id}" (form: action = rename with name, add
// with symbols, or remove with symbol). Another user's list is a 404.
func (h *Handlers) EditWatchlist(c *fiber.Ctx) error {
	handle := c.Params("id")
	values, err := formValues(c)
	if err != nil {
		return err
	}
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	uid := accountOf(c).ID
	edit, err := settings.WatchlistEditFromForm(values)
	var w settings.Watchlist
	var changed []string
	if err == nil {
		w, changed, err = h.settings.EditWatchlist(ctx, uid, handle, edit)
	}
	invalid, err := asInvalid(err)
	if err != nil {
		return err
	}
	if invalid == nil && !isHTMX(c) {
		return c.Redirect("/watchlists#wl-"+w.Handle, fiber.StatusSeeOther)
	}
	if invalid != nil { // nothing changed: show the list as it is, with the message
		if w, err = h.settings.Watchlist(ctx, uid, handle); err != nil {
			return err
		}
	}
	sort := currentSort(c)
	card := h.watchlistCard(c, w, sort, h.states(w.Symbols))
	status := fiber.StatusOK
	if invalid != nil {
		status = fiber.StatusUnprocessableEntity
		card.Message, card.Errors = formErrors(invalid, settings.FieldWatchlistName, settings.FieldWatchlistSymbols, settings.FieldWatchlistSymbol)
		card.Typed = map[string]string{}
		if vs, ok := values[settings.FieldWatchlistSymbols]; ok {
			card.Typed[settings.FieldWatchlistSymbols] = strings.Join(vs, ", ")
		}
		if vs, ok := values[settings.FieldWatchlistName]; ok && edit.Action != settings.ActionAdd {
			card.Typed[settings.FieldWatchlistName] = strings.Join(vs, " ")
		}
	} else {
		card.Flash = editFlash(edit, w, changed)
	}
	if isHTMX(c) {
		return render(c, status, views.WatchlistCardSection(card))
	}
	v, err := h.watchlistsView(ctx, c, sort)
	if err != nil {
		return err
	}
	for i := range v.Lists {
		if v.Lists[i].Handle == card.Handle {
			v.Lists[i] = card
		}
	}
	return render(c, status, views.WatchlistsPage(h.page(c, "Watchlists"), v))
}

// DeleteWatchlist handles "POST /watchlists/{id}/delete". A list that a tracker uses is a
// 422 naming the tracker; another user's list is a 404.
func (h *Handlers) DeleteWatchlist(c *fiber.Ctx) error {
	handle := c.Params("id")
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	name, err := h.settings.DeleteWatchlist(ctx, accountOf(c).ID, handle)
	invalid, err := asInvalid(err)
	if err != nil {
		return err
	}
	if invalid == nil && !isHTMX(c) {
		return c.Redirect("/watchlists", fiber.StatusSeeOther)
	}
	v, err := h.watchlistsView(ctx, c, currentSort(c))
	if err != nil {
		return err
	}
	status := fiber.StatusOK
	if invalid != nil {
		status = fiber.StatusUnprocessableEntity
		for i := range v.Lists {
			if v.Lists[i].Handle == handle {
				v.Lists[i].Message, v.Lists[i].Errors = formErrors(invalid, settings.FieldWatchlist)
			}
		}
	} else {
		v.Flash = "Deleted " + settings.WatchlistPrefix + name + "."
	}
	if isHTMX(c) {
		return render(c, status, views.WatchlistsSection(v))
	}
	return render(c, status, views.WatchlistsPage(h.page(c, "Watchlists"), v))
}

// watchlistsView is the user's lists as stored now, each sorted by sort, with prices.
func (h *Handlers) watchlistsView(ctx context.Context, c *fiber.Ctx, sort string) (views.WatchlistsView, error) {
	lists, err := h.settings.Watchlists(ctx, accountOf(c).ID)
	if err != nil {
		return views.WatchlistsView{}, err
	}
	var all []string
	for _, l := range lists {
		all = append(all, l.Symbols...)
	}
	states := h.states(all)
	v := views.WatchlistsView{CSRF: sessionOf(c).CSRF, Sort: sort, Create: views.WatchlistCreateForm{Count: len(lists)}}
	for _, l := range lists {
		v.Lists = append(v.Lists, h.watchlistCard(c, l, sort, states))
	}
	return v, nil
}

// states returns the latest market state of each symbol (none without a market).
func (h *Handlers) states(symbols []string) map[string]market.SymbolState {
	out := make(map[string]market.SymbolState, len(symbols))
	if h.symbols == nil || len(symbols) == 0 {
		return out
	}
	for _, st := range h.symbols.SymbolStates(symbols) {
		out[st.Symbol] = st
	}
	return out
}

// watchlistCard lays out one list, its rows in sort's order.
func (h *Handlers) watchlistCard(c *fiber.Ctx, w settings.Watchlist, sort string, states map[string]market.SymbolState) views.WatchlistCard {
	card := views.WatchlistCard{CSRF: sessionOf(c).CSRF, Handle: w.Handle, Name: w.Name, Sort: sort}
	for _, sym := range w.Symbols {
		st := states[sym]
		card.Rows = append(card.Rows, views.WatchlistRow{Symbol: sym, HasData: st.HasData, Price: st.Price, PctFromOpen: st.PctFromOpen})
	}
	sortRows(card.Rows, sort)
	return card
}

// sortRows orders a list's rows: by symbol, or by price or % from open with the symbols
// that have no data yet last either way (among themselves by symbol); ties go by symbol.
func sortRows(rows []views.WatchlistRow, sort string) {
	key, desc := strings.CutPrefix(sort, "-")
	slices.SortStableFunc(rows, func(a, b views.WatchlistRow) int {
		if key != "symbol" && (!a.HasData || !b.HasData) {
			switch {
			case a.HasData:
				return -1
			case b.HasData:
				return 1
			}
			return strings.Compare(a.Symbol, b.Symbol) // no data either: by symbol
		}
		var c int
		switch key {
		case "price":
			c = cmp.Compare(a.Price, b.Price)
		case "pct":
			c = cmp.Compare(a.PctFromOpen, b.PctFromOpen)
		}
		if c == 0 {
			c = strings.Compare(a.Symbol, b.Symbol)
		}
		if desc {
			return -c
		}
		return c
	})
}

// sortOf is a valid sort, or the default.
func sortOf(s string) string {
	if slices.Contains(watchlistSorts, s) {
		return s
	}
	return watchlistSorts[0]
}

// currentSort is the sort of the page an htmx post came from (HX-Current-URL), so the
// answer keeps the order the user chose.
func currentSort(c *fiber.Ctx) string {
	u, err := url.Parse(c.Get("HX-Current-URL"))
	if err != nil {
		return sortOf("")
	}
	return sortOf(u.Query().Get("sort"))
}

// editFlash says what an edit did: changed are the symbols it added or removed.
func editFlash(e settings.WatchlistEdit, w settings.Watchlist, changed []string) string {
	var asked []string
	switch e.Action {
	case settings.ActionRename:
		return "Renamed to " + w.Universe() + "."
	case settings.ActionAdd:
		asked = e.Add
	case settings.ActionRemove:
		asked = e.Remove
	}
	var msg string
	switch {
	case len(changed) == 0:
		msg = "Nothing to change."
	case e.Action == settings.ActionAdd:
		msg = "Added " + joinMax(changed, 8) + "."
	default:
		msg = "Removed " + joinMax(changed, 8) + "."
	}
	var same []string
	for _, s := range asked {
		if !slices.Contains(changed, s) {
			same = append(same, s)
		}
	}
	switch {
	case len(same) > 0 && e.Action == settings.ActionAdd:
		msg += " Already in the list: " + joinMax(same, 8) + "."
	case len(same) > 0:
		msg += " Not in the list: " + joinMax(same, 8) + "."
	}
	return msg
}

func joinMax(items []string, n int) string {
	if len(items) > n {
		return strings.Join(items[:n], ", ") + " and " + strconv.Itoa(len(items)-n) + " more"
	}
	return strings.Join(items, ", ")
}

// errNotFound is the 404 of a missing resource, as the error handler words it.
func errNotFound(format string, args ...any) error {
	return tickstock.Errorf(tickstock.ENOTFOUND, format, args...)
}

// alertsView is the dashboard's alert element: the user's alert settings and every
// symbol of their lists. With alerts off it reads nothing more.
func (h *Handlers) alertsView(ctx context.Context, userID int64, a settings.AlertFilters) (views.AlertsView, error) {
	v := views.AlertsView{Enabled: a.Enabled, Sound: a.Sound, Notify: a.Notify, Since: time.Now().UnixMilli()}
	if !a.Enabled {
		return v, nil
	}
	lists, err := h.settings.Watchlists(ctx, userID)
	if err != nil {
		return views.AlertsView{}, err
	}
	for _, l := range lists {
		v.Symbols = append(v.Symbols, l.Symbols...)
	}
	slices.Sort(v.Symbols)
	v.Symbols = slices.Compact(v.Symbols)
	return v, nil
}
