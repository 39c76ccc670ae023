package views

import "slices"

// PanelMarket is the market summary's id in an embed's ?panels= list.
const PanelMarket = "market"

// panelIDs are what an embed may choose with ?panels=: the market summary and the six live
// panels, named by their element ids on the dashboard.
var panelIDs = []string{PanelMarket, "highs", "lows", "trend-up", "trend-down", "surge-up", "surge-down"}

// PanelIDs returns the ids an embed's ?panels= may name, in the dashboard's order.
func PanelIDs() []string { return slices.Clone(panelIDs) }

// Shows reports whether the panel with this id is part of the view.
func (d Dashboard) Shows(id string) bool { return d.Panels == nil || slices.Contains(d.Panels, id) }

// Themes an embed may ask for with ?theme=; "" follows the visitor's system.
const (
	ThemeLight = "light"
	ThemeDark  = "dark"
)

// EmbedView is a read-only embed of a user's panels. It never carries the owner's name or
// email: the page is public to whoever has the link.
type EmbedView struct {
	Dashboard        // StreamURL is absolute for a fragment another site loads
	Theme     string // ThemeLight, ThemeDark or "" (the visitor's system choice)
	SiteURL   string // this server's base URL, for the credit link
}
