package views

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tickstock/tickstock/audit"
)

// Admin sections, for the admin navigation.
const (
	AdminOverview  = "overview"
	AdminUsers     = "users"
	AdminUniverses = "universes"
	AdminAuditLog  = "audit"
)

// AdminMetricsID is the id of the self-refreshing metrics fragment, its htmx swap target.
const AdminMetricsID = "admin-metrics"

// Figure is one figure of the admin home: its value now and its points over the window.
// (The metrics package computes them; views cannot import it, as metrics reads the stream
// package, which renders through views.)
type Figure struct {
	Group      string
	Key        string
	Label      string
	Counter    bool    // a total; its points are a rate
	Unit       string  // "", "%", "ms", "bytes", "/s", "/min"
	Value      float64 // now
	Text       string  // a figure that is text; Value is then unused
	Points     []float64
	PointsUnit string
}

// AdminMetricsView is the admin home: every figure with its sparkline.
type AdminMetricsView struct {
	Figures   []Figure
	UpdatedAt time.Time
	Window    time.Duration // how much history the sparklines cover
}

// Groups returns the figures' group names in page order.
func (v AdminMetricsView) Groups() []string {
	var out []string
	for _, f := range v.Figures {
		if len(out) == 0 || out[len(out)-1] != f.Group {
			out = append(out, f.Group)
		}
	}
	return out
}

// InGroup returns the figures of one group.
func (v AdminMetricsView) InGroup(g string) []Figure {
	var out []Figure
	for _, f := range v.Figures {
		if f.Group == g {
			out = append(out, f)
		}
	}
	return out
}

// AdminUserRow is one user as the admin pages list them.
type AdminUserRow struct {
	Handle    string
	Email     string
	Username  string
	Role      string
	Disabled  bool
	Created   time.Time
	LastLogin time.Time // zero: never
}

// AdminUsersView is the user list with its search.
type AdminUsersView struct {
	Query, Role, Status string
	Page, PerPage       int
	Total               int64
	Users               []AdminUserRow
	Message             string // a search the list cannot run
}

// AdminUserResultsID is the id of the user list's results, its htmx swap target.
const AdminUserResultsID = "user-results"

// PageURL is the list's address for page n with the same search.
func (v AdminUsersView) PageURL(n int) string {
	q := url.Values{}
	for k, val := range map[string]string{"q": v.Query, "role": v.Role, "status": v.Status} {
		if val != "" {
			q.Set(k, val)
		}
	}
	if n > 1 {
		q.Set("page", strconv.Itoa(n))
	}
	if len(q) == 0 {
		return "/admin/users"
	}
	return "/admin/users?" + q.Encode()
}

// HasNext reports whether a later page exists.
func (v AdminUsersView) HasNext() bool { return int64(v.Page*v.PerPage) < v.Total }

// Range describes the rows shown, e.g. "1–50 of 120".
func (v AdminUsersView) Range() string { return pageRange(v.Page, v.PerPage, len(v.Users), v.Total) }

func pageRange(page, per, shown int, total int64) string {
	if shown == 0 {
		return "0 of " + strconv.FormatInt(total, 10)
	}
	first := (page-1)*per + 1
	return strconv.Itoa(first) + "–" + strconv.Itoa(first+shown-1) + " of " + strconv.FormatInt(total, 10)
}

// AdminAccountForm is the disable/enable section of a user's page.
type AdminAccountForm struct {
	CSRF     string
	Handle   string
	Disabled bool
	Self     bool   // the admin looks at their own account: they may not disable it
	Flash    string // what just happened
	Message  string // why it did not
}

// AdminAccountID is the account section's id, its htmx swap target.
const AdminAccountID = "account"

// AdminResetForm is the password-reset-link section of a user's page.
type AdminResetForm struct {
	CSRF     string
	Handle   string
	Disabled bool   // a disabled user gets no link
	Link     string // the link just made: shown this once
	Message  string
}

// AdminResetID is the reset section's id, its htmx swap target.
const AdminResetID = "reset-link"

// AdminUserAuditID is the id of a user's audit section, swapped out of band after a change.
const AdminUserAuditID = "user-audit"

// AdminAuthEvent is one of the user's auth events.
type AdminAuthEvent struct {
	Kind string
	IP   string
	At   time.Time
}

// AdminUserView is one user's admin page.
type AdminUserView struct {
	User       AdminUserRow
	Universes  []UniverseForm
	Filters    FilterForm
	Account    AdminAccountForm
	Reset      *AdminResetForm // nil: reset links are not available on this server
	AuthEvents []AdminAuthEvent
	Audit      []audit.Row
}

// AdminUniverseRow is one universe in the list.
type AdminUniverseRow struct {
	Name        string
	Description string
	Size        int
}

// UniverseEditorForm is the create form, or the edit form of one universe (Editing set).
type UniverseEditorForm struct {
	CSRF        string
	Editing     string // the universe edited; "" for the create form
	Name        string // the create form's name field
	Description string
	Symbols     string // as typed, or one per line when prefilled
	Flash       string
	Message     string
	Errors      map[string]string
}

// Action is where the form posts.
func (f UniverseEditorForm) Action() string {
	if f.Editing == "" {
		return "/admin/universes"
	}
	return "/admin/universes/" + url.PathEscape(f.Editing)
}

// UniverseEditorID is the id of the create or edit form's section, its htmx swap target.
const UniverseEditorID = "universe-editor"

// UniverseListID is the id of the universe table, swapped out of band after a save.
const UniverseListID = "universe-list"

// AdminUniversesView is the universes page.
type AdminUniversesView struct {
	Universes []AdminUniverseRow
	Editor    UniverseEditorForm
}

// AdminAuditView is the audit page.
type AdminAuditView struct {
	Rows          []audit.Row
	Actor, Target string // handles filtered on
	Universe      string
	Action        string
	Admins        []AdminOption
	Page, PerPage int
	Total         int64
	Message       string
}

// AdminOption is an admin in the audit filter.
type AdminOption struct{ Handle, Username string }

// PageURL is the audit page's address for page n with the same filters.
func (v AdminAuditView) PageURL(n int) string {
	q := url.Values{}
	for k, val := range map[string]string{"actor": v.Actor, "target": v.Target, "universe": v.Universe, "action": v.Action} {
		if val != "" {
			q.Set(k, val)
		}
	}
	if n > 1 {
		q.Set("page", strconv.Itoa(n))
	}
	if len(q) == 0 {
		return "/admin/audit"
	}
	return "/admin/audit?" + q.Encode()
}

// HasNext reports whether a later page exists.
func (v AdminAuditView) HasNext() bool { return int64(v.Page*v.PerPage) < v.Total }

// Range describes the rows shown.
func (v AdminAuditView) Range() string { return pageRange(v.Page, v.PerPage, len(v.Rows), v.Total) }

// userURL is a user's admin page.
func userURL(handle string) string { return "/admin/users/" + url.PathEscape(handle) }

// figureValue shows a figure's current value in its unit.
func figureValue(f Figure) string {
	if f.Text != "" {
		return f.Text
	}
	return withUnit(f.Value, f.Unit, f.Counter)
}

func withUnit(v float64, unit string, whole bool) string {
	if math.IsNaN(v) {
		return "–"
	}
	switch unit {
	case "bytes":
		return strconv.FormatFloat(v/(1<<20), 'f', 1, 64) + " MiB"
	case "%":
		return strconv.FormatFloat(v, 'f', 1, 64) + "%"
	case "ms":
		return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
	case "/s", "/min":
		return strconv.FormatFloat(v, 'f', 1, 64) + " " + unit
	}
	if whole || v == math.Trunc(v) {
		return thousands(int64(v))
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// Sparkline geometry, in SVG user units.
const (
	sparkW   = 120.0
	sparkH   = 28.0
	sparkPad = 2.0
)

// sparkSegments turns points into SVG polyline point lists, one per run of numbers (NaN
// breaks a line), scaled so the smallest value sits at the bottom and the largest at the
// top (a flat series sits in the middle).
func sparkSegments(points []float64) []string {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range points {
		if !math.IsNaN(p) && !math.IsInf(p, 0) {
			lo, hi = math.Min(lo, p), math.Max(hi, p)
		}
	}
	if math.IsInf(lo, 1) {
		return nil
	}
	n := len(points)
	x := func(i int) float64 {
		if n == 1 {
			return sparkW / 2
		}
		return float64(i) * sparkW / float64(n-1)
	}
	y := func(v float64) float64 {
		if hi == lo {
			return sparkH / 2
		}
		return sparkPad + (hi-v)/(hi-lo)*(sparkH-2*sparkPad)
	}
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for i, p := range points {
		if math.IsNaN(p) || math.IsInf(p, 0) {
			flush()
			continue
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(strconv.FormatFloat(x(i), 'f', 1, 64))
		cur.WriteByte(',')
		cur.WriteString(strconv.FormatFloat(y(p), 'f', 1, 64))
	}
	flush()
	return out
}

// sparkTitle describes a sparkline for screen readers and the tooltip.
func sparkTitle(f Figure, window time.Duration) string {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range f.Points {
		if !math.IsNaN(p) && !math.IsInf(p, 0) {
			lo, hi = math.Min(lo, p), math.Max(hi, p)
		}
	}
	if math.IsInf(lo, 1) {
		return f.Label + ": no history yet"
	}
	return f.Label + " over the last " + minutes(window) + ": " +
		withUnit(lo, f.PointsUnit, false) + " to " + withUnit(hi, f.PointsUnit, false)
}

func sparkViewBox() string {
	return "0 0 " + strconv.FormatFloat(sparkW, 'f', 0, 64) + " " + strconv.FormatFloat(sparkH, 'f', 0, 64)
}

// statusLabel is a user's status.
func statusLabel(disabled bool) string {
	if disabled {
		return "disabled"
	}
	return "active"
}

func changeList(items []string, sign string) string {
	const most = 20
	shown := items
	more := ""
	if len(items) > most {
		shown = items[:most]
		more = " … and " + strconv.Itoa(len(items)-most) + " more"
	}
	out := make([]string, len(shown))
	for i, s := range shown {
		out[i] = sign + s
	}
	return strings.Join(out, " ") + more
}

// rawOrNull is an audit side's JSON, or null when there was none.
func rawOrNull(b []byte) []byte {
	if len(b) == 0 {
		return []byte("null")
	}
	return b
}

// minutes says a window in minutes: "15 minutes".
func minutes(d time.Duration) string {
	n := int(d.Round(time.Minute) / time.Minute)
	if n == 1 {
		return "minute"
	}
	return strconv.Itoa(n) + " minutes"
}
