package handlers

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/tickstock/tickstock/settings"
)

// The SPEC's default filters (section 5), verbatim.
const specDefaultFilters = `{"highlow": {"min_count": 0, "min_volume": 0},
	"trends":  {"min_strength": "moderate", "direction": "both"},
	"surges":  {"min_strength": "weak", "trigger": "any", "price_ranges": ["penny","low","mid","high"]},
	"alerts":  {"enabled": false, "sound": true, "notify": true},
	"display": {"one_row_per_symbol": false}}`

// unlimited lifts the rate limit for tests that make many requests as one user.
var unlimited appOption = func(d *appSetup) { d.RateLimit = 1 << 30 }

// signedIn creates a user and returns a client logged in as them.
func signedIn(t *testing.T, app *testApp, email, username string) *client {
	t.Helper()
	_, pw := app.MustUser(t, email, username)
	c := app.NewClient(t)
	c.login(email, pw)
	return c
}

// stored is what the JSON API says a user's settings are now.
type stored struct {
	Selections settings.Selections
	Filters    settings.Filters
}

func readStored(t *testing.T, c *client) stored {
	t.Helper()
	var sel struct {
		Success    bool                `json:"success"`
		Selections settings.Selections `json:"selections"`
	}
	mustDecode(t, c.get("/api/user/universe-selections"), &sel)
	var fil struct {
		Success bool             `json:"success"`
		Filters settings.Filters `json:"filters"`
	}
	mustDecode(t, c.get("/api/user-filters"), &fil)
	if !sel.Success || !fil.Success {
		t.Fatalf("GET answered success=false")
	}
	return stored{Selections: sel.Selections, Filters: fil.Filters}
}

// mustDecode decodes a 200 JSON answer strictly: every key must be one v knows.
func mustDecode(t *testing.T, r response, v any) {
	t.Helper()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: status %d: %s", r.Request.Method, r.Request.URL.Path, r.StatusCode, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}
	dec := json.NewDecoder(strings.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(t *testing.T, got, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("got is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v: %s", err, want)
	}
	return reflect.DeepEqual(g, w)
}

// filterValues is the filter form as a browser posts it for f: ticked boxes only.
func filterValues(f settings.Filters) url.Values {
	v := url.Values{
		settings.FieldMinCount:       {strconv.FormatInt(f.HighLow.MinCount, 10)},
		settings.FieldMinVolume:      {strconv.FormatInt(f.HighLow.MinVolume, 10)},
		settings.FieldTrendStrength:  {f.Trends.MinStrength},
		settings.FieldTrendDirection: {f.Trends.Direction},
		settings.FieldSurgeStrength:  {f.Surges.MinStrength},
		settings.FieldSurgeTrigger:   {f.Surges.Trigger},
		settings.FieldPriceRanges:    slices.Clone(f.Surges.PriceRanges),
	}
	for field, on := range map[string]bool{settings.FieldAlertsEnabled: f.Alerts.Enabled,
		settings.FieldAlertsSound: f.Alerts.Sound, settings.FieldAlertsNotify: f.Alerts.Notify} {
		if on {
			v.Set(field, "on")
		}
	}
	if f.Display.OneRowPerSymbol {
		v.Set(settings.FieldOneRow, "true")
	}
	return v
}

// shownFilters reads the values the filter form in s shows.
func shownFilters(t *testing.T, s *goquery.Selection) settings.Filters {
	t.Helper()
	num := func(field string) int64 {
		v, ok := s.Find(`input[name="` + field + `"]`).Attr("value")
		if !ok {
			t.Fatalf("no input %s", field)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("input %s value %q", field, v)
		}
		return n
	}
	one := func(sel string) string {
		m := s.Find(sel)
		if m.Length() != 1 {
			t.Fatalf("%s: %d matches, want 1", sel, m.Length())
		}
		return m.AttrOr("value", "")
	}
	var f settings.Filters
	f.HighLow.MinCount = num(settings.FieldMinCount)
	f.HighLow.MinVolume = num(settings.FieldMinVolume)
	f.Trends.MinStrength = one(`select[name="` + settings.FieldTrendStrength + `"] option[selected]`)
	f.Trends.Direction = one(`input[type=radio][name="` + settings.FieldTrendDirection + `"][checked]`)
	f.Surges.MinStrength = one(`select[name="` + settings.FieldSurgeStrength + `"] option[selected]`)
	f.Surges.Trigger = one(`select[name="` + settings.FieldSurgeTrigger + `"] option[selected]`)
	f.Surges.PriceRanges = checkedValues(s, settings.FieldPriceRanges)
	ticked := func(field string) bool {
		box := s.Find(`input[type=checkbox][name="` + field + `"]`)
		if box.Length() != 1 {
			t.Fatalf("%d checkboxes %s, want 1", box.Length(), field)
		}
		_, on := box.Attr("checked")
		return on
	}
	f.Alerts = settings.AlertFilters{Enabled: ticked(settings.FieldAlertsEnabled),
		Sound: ticked(settings.FieldAlertsSound), Notify: ticked(settings.FieldAlertsNotify)}
	f.Display.OneRowPerSymbol = len(checkedValues(s, settings.FieldOneRow)) == 1
	return f
}

// shownForm reads the filter form in s as text, the way a browser would post it: number
// boxes as they read, the chosen option and radio ("" for none), the ticked boxes sorted.
func shownForm(s *goquery.Selection) map[string][]string {
	out := map[string][]string{}
	for _, f := range []string{settings.FieldMinCount, settings.FieldMinVolume} {
		out[f] = []string{s.Find(`input[name="`+f+`"]`).AttrOr("value", "?")}
	}
	for _, f := range []string{settings.FieldTrendStrength, settings.FieldSurgeStrength, settings.FieldSurgeTrigger} {
		out[f] = []string{s.Find(`select[name="`+f+`"] option[selected]`).AttrOr("value", "")}
	}
	out[settings.FieldTrendDirection] = []string{s.Find(`input[type=radio][name="`+settings.FieldTrendDirection+`"][checked]`).AttrOr("value", "")}
	out[settings.FieldPriceRanges] = checkedValues(s, settings.FieldPriceRanges)
	return out
}

// sentForm is what shownForm should read after posting v over the stored filters: each
// field as sent (the first value, trimmed), an option no control has as none, and a field
// not sent as stored.
func sentForm(v url.Values, stored settings.Filters) map[string][]string {
	storedForm := filterValues(stored)
	out := map[string][]string{}
	options := map[string][]string{
		settings.FieldTrendStrength: settings.StrengthOptions(), settings.FieldSurgeStrength: settings.StrengthOptions(),
		settings.FieldSurgeTrigger: settings.TriggerOptions(), settings.FieldTrendDirection: settings.DirectionOptions(),
	}
	for _, f := range []string{settings.FieldMinCount, settings.FieldMinVolume, settings.FieldTrendStrength,
		settings.FieldSurgeStrength, settings.FieldSurgeTrigger, settings.FieldTrendDirection} {
		vs := v[f]
		if len(vs) == 0 {
			vs = storedForm[f]
		}
		val := strings.TrimSpace(vs[0])
		if opts, ok := options[f]; ok && !slices.Contains(opts, val) {
			val = ""
		}
		out[f] = []string{val}
	}
	ranges := []string{}
	for _, r := range v[settings.FieldPriceRanges] {
		if slices.Contains(settings.PriceRangeOptions(), r) {
			ranges = append(ranges, r)
		}
	}
	slices.Sort(ranges)
	out[settings.FieldPriceRanges] = ranges
	return out
}

// checkedValues lists the values of the ticked checkboxes named name in s, sorted.
func checkedValues(s *goquery.Selection, name string) []string {
	out := []string{}
	s.Find(`input[type=checkbox][name="` + name + `"][checked]`).Each(func(_ int, in *goquery.Selection) {
		out = append(out, in.AttrOr("value", ""))
	})
	slices.Sort(out)
	return out
}

func section(t *testing.T, doc *goquery.Document, id string) *goquery.Selection {
	t.Helper()
	s := doc.Find("section#" + id)
	if s.Length() != 1 {
		t.Fatalf("section #%s: %d found", id, s.Length())
	}
	return s
}

// defaultsFilters is DefaultFilters with price ranges sorted, as checkedValues returns them.
func sortedRanges(f settings.Filters) settings.Filters {
	f = f.Clone()
	slices.Sort(f.Surges.PriceRanges)
	return f
}

// custom are filters unlike the defaults in every field.
var custom = settings.Filters{
	HighLow: settings.HighLowFilters{MinCount: 3, MinVolume: 250000},
	Trends:  settings.TrendFilters{MinStrength: settings.StrengthStrong, Direction: settings.DirectionUp},
	Surges: settings.SurgeFilters{MinStrength: settings.StrengthModerate, Trigger: settings.TriggerPriceAndVolume,
		PriceRanges: []string{settings.RangeMid, settings.RangeHigh}},
}

func TestSettingsDefaults(t *testing.T) {
	app := MustApp(t, unlimited)
	c := signedIn(t, app, "fresh@example.com", "freshtrader")

	t.Run("JSON", func(t *testing.T) {
		r := c.get("/api/user/universe-selections")
		if r.StatusCode != 200 || !sameJSON(t, r.Body, `{"success":true,"selections":{"market":["DEFAULT_UNIVERSE"],"highlow":["DEFAULT_UNIVERSE"]}}`) {
			t.Fatalf("selections: %d %s", r.StatusCode, r.Body)
		}
		r = c.get("/api/user-filters")
		if r.StatusCode != 200 || !sameJSON(t, r.Body, `{"success":true,"filters":`+specDefaultFilters+`}`) {
			t.Fatalf("filters: %d %s", r.StatusCode, r.Body)
		}
		var u struct {
			Success   bool `json:"success"`
			Universes []struct {
				Name        string `json:"name"`
				Description string `json:"description"`
				Size        int    `json:"size"`
			} `json:"universes"`
		}
		mustDecode(t, c.get("/api/universes"), &u)
		sizes := map[string]int{}
		for _, x := range u.Universes {
			if x.Description == "" {
				t.Errorf("%s has no description", x.Name)
			}
			sizes[x.Name] = x.Size
		}
		if !u.Success || sizes["DEFAULT_UNIVERSE"] < 100 || sizes["TECH_UNIVERSE"] == 0 ||
			sizes["FINANCIALS_UNIVERSE"] == 0 || sizes["ETF_UNIVERSE"] == 0 {
			t.Fatalf("universes: %+v", u)
		}
	})

	t.Run("page", func(t *testing.T) {
		r := c.get("/settings")
		if r.StatusCode != 200 {
			t.Fatalf("GET /settings: %d", r.StatusCode)
		}
		doc := r.Doc(t)
		if got := strings.TrimSpace(doc.Find("h1").Text()); got != "freshtrader's Universe Selection" {
			t.Fatalf("h1 %q", got)
		}
		if doc.Find(`a[href="/dashboard"][data-testid="back-dashboard"]`).Length() != 1 {
			t.Fatal("no link back to the dashboard")
		}
		if doc.Find("[style]").Length() != 0 || doc.Find("script:not([src])").Length() != 0 {
			t.Fatal("inline style or script: the CSP forbids them")
		}
		for _, tracker := range []string{"highlow", "market"} {
			s := section(t, doc, "universes-"+tracker)
			if got := checkedValues(s, "universes"); !slices.Equal(got, []string{"DEFAULT_UNIVERSE"}) {
				t.Errorf("%s: checked %v", tracker, got)
			}
			if s.Find(`input[type=checkbox][name="universes"]`).Length() < 4 {
				t.Errorf("%s: fewer than 4 universes offered", tracker)
			}
			if v := s.Find(`input[name="tracker"]`).AttrOr("value", ""); v != tracker {
				t.Errorf("%s: tracker field %q", tracker, v)
			}
			label := s.Find(`label:has(input[value="TECH_UNIVERSE"])`).Text()
			if !strings.Contains(label, "TECH_UNIVERSE") || !strings.Contains(label, "technology") || !strings.Contains(label, " symbols") {
				t.Errorf("%s: universe label %q lacks name, description or size", tracker, label)
			}
		}
		if h := section(t, doc, "universes-highlow").Find("h2").Text(); h != "Panels: highs, lows, trends, surges" {
			t.Errorf("highlow heading %q", h)
		}
		if h := section(t, doc, "universes-market").Find("h2").Text(); h != "Market summary" {
			t.Errorf("market heading %q", h)
		}
		fs := section(t, doc, "filters")
		if got, want := shownFilters(t, fs), sortedRanges(settings.DefaultFilters()); !reflect.DeepEqual(got, want) {
			t.Errorf("filter form shows %+v, want %+v", got, want)
		}
		if l := fs.Find(`label:has(input[value="penny"])`).Text(); !strings.Contains(l, "Penny (under $5)") {
			t.Errorf("penny label %q", l)
		}
		if doc.Find("[data-testid=saved], .field-error, [data-testid=form-error]").Length() != 0 {
			t.Error("a fresh page shows a message")
		}

		// Every form posts with htmx into its own section, and without JS to the same route.
		forms := doc.Find("section form")
		if forms.Length() != 3 {
			t.Fatalf("%d forms, want 3", forms.Length())
		}
		forms.Each(func(_ int, f *goquery.Selection) {
			id := f.Closest("section").AttrOr("id", "")
			action := f.AttrOr("action", "")
			if f.AttrOr("method", "") != "post" || f.AttrOr("hx-post", "") != action ||
				f.AttrOr("hx-target", "") != "#"+id || f.AttrOr("hx-swap", "") != "outerHTML" {
				t.Errorf("form in #%s: method=%q action=%q hx-post=%q hx-target=%q hx-swap=%q", id,
					f.AttrOr("method", ""), action, f.AttrOr("hx-post", ""), f.AttrOr("hx-target", ""), f.AttrOr("hx-swap", ""))
			}
			if tok := f.Find(`input[name="_csrf"]`).AttrOr("value", ""); tok == "" || tok != c.csrf {
				t.Errorf("form in #%s: _csrf %q", id, tok)
			}
		})
	})
}

func TestSettingsSaveUniversesForm(t *testing.T) {
	app := MustApp(t, unlimited)
	for i, htmx := range []bool{false, true} {
		t.Run(map[bool]string{false: "full page", true: "htmx"}[htmx], func(t *testing.T) {
			c := signedIn(t, app, "uni"+strconv.Itoa(i)+"@example.com", "unitrader"+strconv.Itoa(i))
			var header []string
			if htmx {
				header = []string{"HX-Request", "true", "HX-Target", "universes-highlow"}
			}
			r := c.postForm("/settings/universes", url.Values{
				"tracker": {"highlow"}, "universes": {"TECH_UNIVERSE", "ETF_UNIVERSE"},
			}, header...)
			if r.StatusCode != 200 {
				t.Fatalf("status %d: %s", r.StatusCode, r.Body)
			}
			doc := r.Doc(t)
			if htmx {
				if strings.Contains(r.Body, "<html") || doc.Find("h1").Length() != 0 || doc.Find("section").Length() != 1 {
					t.Fatalf("htmx answer is not just the section: %s", r.Body)
				}
			} else if doc.Find("h1").Length() != 1 || doc.Find("section#universes-market").Length() != 1 {
				t.Fatalf("full answer is not the page")
			}
			s := section(t, doc, "universes-highlow")
			if s.Find("[data-testid=saved]").Length() != 1 {
				t.Fatal("no saved message in the highlow section")
			}
			if doc.Find("[data-testid=saved]").Length() != 1 {
				t.Fatal("a saved message outside the saved section")
			}
			if got := checkedValues(s, "universes"); !slices.Equal(got, []string{"ETF_UNIVERSE", "TECH_UNIVERSE"}) {
				t.Fatalf("answer shows %v ticked", got)
			}

			// Stored, for this tracker only, and shown on the next page load.
			st := readStored(t, c)
			if !slices.Equal(st.Selections.HighLow, []string{"ETF_UNIVERSE", "TECH_UNIVERSE"}) ||
				!slices.Equal(st.Selections.Market, []string{"DEFAULT_UNIVERSE"}) {
				t.Fatalf("stored %+v", st.Selections)
			}
			page := c.get("/settings").Doc(t)
			if got := checkedValues(section(t, page, "universes-highlow"), "universes"); !slices.Equal(got, []string{"ETF_UNIVERSE", "TECH_UNIVERSE"}) {
				t.Fatalf("page shows %v", got)
			}
			if page.Find("[data-testid=saved]").Length() != 0 {
				t.Fatal("a plain GET shows the saved message")
			}

			// The market tracker saves on its own.
			if htmx {
				header[3] = "universes-market"
			}
			r = c.postForm("/settings/universes", url.Values{"tracker": {"market"}, "universes": {"FINANCIALS_UNIVERSE"}}, header...)
			if r.StatusCode != 200 || section(t, r.Doc(t), "universes-market").Find("[data-testid=saved]").Length() != 1 {
				t.Fatalf("market save: %d", r.StatusCode)
			}
			st = readStored(t, c)
			if !slices.Equal(st.Selections.Market, []string{"FINANCIALS_UNIVERSE"}) || len(st.Selections.HighLow) != 2 {
				t.Fatalf("after market save: %+v", st.Selections)
			}
		})
	}
}

func TestSettingsSaveFiltersForm(t *testing.T) {
	app := MustApp(t, unlimited)
	for i, htmx := range []bool{false, true} {
		t.Run(map[bool]string{false: "full page", true: "htmx"}[htmx], func(t *testing.T) {
			c := signedIn(t, app, "fil"+strconv.Itoa(i)+"@example.com", "filtrader"+strconv.Itoa(i))
			var header []string
			if htmx {
				header = []string{"HX-Request", "true", "HX-Target", "filters"}
			}
			values := filterValues(custom)
			values.Set(settings.FieldMinVolume, " 250000 ") // spaces around a number are fine
			r := c.postForm("/settings/filters", values, header...)
			if r.StatusCode != 200 {
				t.Fatalf("status %d: %s", r.StatusCode, r.Body)
			}
			doc := r.Doc(t)
			if htmx {
				if strings.Contains(r.Body, "<html") || doc.Find("section").Length() != 1 {
					t.Fatalf("htmx answer is not just the section: %s", r.Body)
				}
			} else if doc.Find("h1").Length() != 1 || doc.Find("section").Length() != 3 {
				t.Fatal("full answer is not the page")
			}
			s := section(t, doc, "filters")
			if s.Find("[data-testid=saved]").Length() != 1 || doc.Find(".field-error").Length() != 0 {
				t.Fatal("no saved message, or an error")
			}
			want := sortedRanges(custom)
			if got := shownFilters(t, s); !reflect.DeepEqual(got, want) {
				t.Fatalf("answer shows %+v, want %+v", got, want)
			}
			if st := readStored(t, c); !reflect.DeepEqual(st.Filters, custom) {
				t.Fatalf("stored %+v, want %+v", st.Filters, custom)
			}
			if got := shownFilters(t, section(t, c.get("/settings").Doc(t), "filters")); !reflect.DeepEqual(got, want) {
				t.Fatalf("page shows %+v", got)
			}

			// An empty number box means no minimum.
			values = filterValues(custom)
			values.Set(settings.FieldMinCount, "")
			if r := c.postForm("/settings/filters", values, header...); r.StatusCode != 200 {
				t.Fatalf("empty min_count: %d", r.StatusCode)
			}
			if st := readStored(t, c); st.Filters.HighLow.MinCount != 0 {
				t.Fatalf("empty min_count stored %d", st.Filters.HighLow.MinCount)
			}
		})
	}
}

func TestSettingsJSONSaveAndLoad(t *testing.T) {
	app := MustApp(t, unlimited)
	c := signedIn(t, app, "json@example.com", "jsontrader")

	r := c.postJSON("/api/user/universe-selections", `{"tracker":"highlow","universes":["TECH_UNIVERSE"]}`)
	want := `{"success":true,"selections":{"market":["DEFAULT_UNIVERSE"],"highlow":["TECH_UNIVERSE"]}}`
	if r.StatusCode != 200 || !sameJSON(t, r.Body, want) {
		t.Fatalf("POST selections: %d %s", r.StatusCode, r.Body)
	}
	if g := c.get("/api/user/universe-selections"); !sameJSON(t, g.Body, want) {
		t.Fatalf("GET after POST: %s", g.Body)
	}
	r = c.postJSON("/api/user/universe-selections", `{"tracker":"market","universes":["ETF_UNIVERSE","FINANCIALS_UNIVERSE","ETF_UNIVERSE"]}`)
	want = `{"success":true,"selections":{"market":["ETF_UNIVERSE","FINANCIALS_UNIVERSE"],"highlow":["TECH_UNIVERSE"]}}`
	if r.StatusCode != 200 || !sameJSON(t, r.Body, want) {
		t.Fatalf("POST market selections: %d %s", r.StatusCode, r.Body)
	}

	// filter_data is merged over what is stored: each POST changes only what it names.
	steps := []struct {
		body, want string
	}{
		{`{"filter_data":{"trends":{"direction":"up"}}}`,
			`{"highlow":{"min_count":0,"min_volume":0},"trends":{"min_strength":"moderate","direction":"up"},"surges":{"min_strength":"weak","trigger":"any","price_ranges":["penny","low","mid","high"]},"alerts":{"enabled":false,"sound":true,"notify":true},"display":{"one_row_per_symbol":false}}`},
		{`{"filter_data":{"highlow":{"min_count":2},"surges":{"price_ranges":["high","penny"],"trigger":"price_and_volume"}}}`,
			`{"highlow":{"min_count":2,"min_volume":0},"trends":{"min_strength":"moderate","direction":"up"},"surges":{"min_strength":"weak","trigger":"price_and_volume","price_ranges":["penny","high"]},"alerts":{"enabled":false,"sound":true,"notify":true},"display":{"one_row_per_symbol":false}}`},
		{`{"filter_data":{"alerts":{"enabled":true,"sound":false}}}`,
			`{"highlow":{"min_count":2,"min_volume":0},"trends":{"min_strength":"moderate","direction":"up"},"surges":{"min_strength":"weak","trigger":"price_and_volume","price_ranges":["penny","high"]},"alerts":{"enabled":true,"sound":false,"notify":true},"display":{"one_row_per_symbol":false}}`},
		{`{"filter_data":{"display":{"one_row_per_symbol":true}}}`,
			`{"highlow":{"min_count":2,"min_volume":0},"trends":{"min_strength":"moderate","direction":"up"},"surges":{"min_strength":"weak","trigger":"price_and_volume","price_ranges":["penny","high"]},"alerts":{"enabled":true,"sound":false,"notify":true},"display":{"one_row_per_symbol":true}}`},
		{`{"filter_data":{}}`,
			`{"highlow":{"min_count":2,"min_volume":0},"trends":{"min_strength":"moderate","direction":"up"},"surges":{"min_strength":"weak","trigger":"price_and_volume","price_ranges":["penny","high"]},"alerts":{"enabled":true,"sound":false,"notify":true},"display":{"one_row_per_symbol":true}}`},
	}
	for _, s := range steps {
		r := c.postJSON("/api/user-filters", s.body)
		if r.StatusCode != 200 || !sameJSON(t, r.Body, `{"success":true,"filters":`+s.want+`}`) {
			t.Fatalf("POST %s: %d %s", s.body, r.StatusCode, r.Body)
		}
		if g := c.get("/api/user-filters"); !sameJSON(t, g.Body, `{"success":true,"filters":`+s.want+`}`) {
			t.Fatalf("GET after POST %s: %s", s.body, g.Body)
		}
	}

	// The page shows what the API saved.
	doc := c.get("/settings").Doc(t)
	f := shownFilters(t, section(t, doc, "filters"))
	if f.HighLow.MinCount != 2 || f.Trends.Direction != "up" || !slices.Equal(f.Surges.PriceRanges, []string{"high", "penny"}) ||
		f.Alerts != (settings.AlertFilters{Enabled: true, Notify: true}) {
		t.Fatalf("page shows %+v", f)
	}
	if got := checkedValues(section(t, doc, "universes-market"), "universes"); !slices.Equal(got, []string{"ETF_UNIVERSE", "FINANCIALS_UNIVERSE"}) {
		t.Fatalf("page shows market %v", got)
	}
}

// baseline gives the user non-default settings through the API and returns them, so a
// test can tell "nothing changed" from "reset to defaults".
func baseline(t *testing.T, c *client) stored {
	t.Helper()
	if r := c.postJSON("/api/user/universe-selections", `{"tracker":"highlow","universes":["TECH_UNIVERSE"]}`); r.StatusCode != 200 {
		t.Fatalf("baseline selection: %d %s", r.StatusCode, r.Body)
	}
	body, _ := json.Marshal(map[string]any{"filter_data": custom})
	if r := c.postJSON("/api/user-filters", string(body)); r.StatusCode != 200 {
		t.Fatalf("baseline filters: %d %s", r.StatusCode, r.Body)
	}
	return readStored(t, c)
}

func assertUnchanged(t *testing.T, c *client, want stored) {
	t.Helper()
	if got := readStored(t, c); !reflect.DeepEqual(got, want) {
		t.Fatalf("settings changed:\n got %+v\nwant %+v", got, want)
	}
}

func TestSettingsFormsRefuseInvalid(t *testing.T) {
	app := MustApp(t, unlimited)
	c := signedIn(t, app, "bad@example.com", "badforms")
	before := baseline(t, c)

	with := func(change func(url.Values)) url.Values {
		v := filterValues(custom)
		v.Set(settings.FieldTrendDirection, settings.DirectionDown) // differs from what is stored
		change(v)
		return v
	}
	tests := []struct {
		name    string
		path    string
		values  url.Values
		section string // the section that answers
		testid  string // where the message shows
	}{
		{"empty selection", "/settings/universes", url.Values{"tracker": {"highlow"}}, "universes-highlow", "error-universes"},
		{"blank universe", "/settings/universes", url.Values{"tracker": {"market"}, "universes": {" "}}, "universes-market", "error-universes"},
		{"unknown universe", "/settings/universes", url.Values{"tracker": {"highlow"}, "universes": {"ETF_UNIVERSE", "NOPE_UNIVERSE"}}, "universes-highlow", "error-universes"},
		{"lower-case universe", "/settings/universes", url.Values{"tracker": {"highlow"}, "universes": {"tech_universe"}}, "universes-highlow", "error-universes"},
		{"unknown tracker", "/settings/universes", url.Values{"tracker": {"sideways"}, "universes": {"ETF_UNIVERSE"}}, "universes-highlow", "form-error"},
		{"two trackers", "/settings/universes", url.Values{"tracker": {"market", "highlow"}, "universes": {"ETF_UNIVERSE"}}, "universes-market", "form-error"},
		{"unknown universe form field", "/settings/universes", url.Values{"tracker": {"highlow"}, "universes": {"ETF_UNIVERSE"}, "user_id": {"1"}}, "universes-highlow", "form-error"},
		{"unknown filter key", "/settings/filters", with(func(v url.Values) { v.Set("trends.speed", "fast") }), "filters", "form-error"},
		{"wrong type", "/settings/filters", with(func(v url.Values) { v.Set(settings.FieldMinCount, "abc") }), "filters", "error-highlow.min_count"},
		{"fraction", "/settings/filters", with(func(v url.Values) { v.Set(settings.FieldMinVolume, "1.5") }), "filters", "error-highlow.min_volume"},
		{"negative number", "/settings/filters", with(func(v url.Values) { v.Set(settings.FieldMinCount, "-1") }), "filters", "error-highlow.min_count"},
		{"bad direction", "/settings/filters", with(func(v url.Values) { v.Set(settings.FieldTrendDirection, "sideways") }), "filters", "error-trends.direction"},
		{"bad trend strength", "/settings/filters", with(func(v url.Values) { v.Set(settings.FieldTrendStrength, "huge") }), "filters", "error-trends.min_strength"},
		{"bad surge strength", "/settings/filters", with(func(v url.Values) { v.Set(settings.FieldSurgeStrength, "Weak") }), "filters", "error-surges.min_strength"},
		{"bad trigger", "/settings/filters", with(func(v url.Values) { v.Set(settings.FieldSurgeTrigger, "volume") }), "filters", "error-surges.trigger"},
		{"no price range", "/settings/filters", with(func(v url.Values) { v.Del(settings.FieldPriceRanges) }), "filters", "error-surges.price_ranges"},
		{"unknown price range", "/settings/filters", with(func(v url.Values) { v.Add(settings.FieldPriceRanges, "micro") }), "filters", "error-surges.price_ranges"},
		{"missing field", "/settings/filters", with(func(v url.Values) { v.Del(settings.FieldTrendStrength) }), "filters", "error-trends.min_strength"},
		{"repeated field", "/settings/filters", with(func(v url.Values) { v.Add(settings.FieldMinCount, "4") }), "filters", "error-highlow.min_count"},
	}
	for _, tt := range tests {
		for _, htmx := range []bool{false, true} {
			name := tt.name + map[bool]string{false: "/full page", true: "/htmx"}[htmx]
			t.Run(name, func(t *testing.T) {
				var header []string
				if htmx {
					header = []string{"HX-Request", "true", "HX-Target", tt.section}
				}
				r := c.postForm(tt.path, maps.Clone(tt.values), header...)
				if r.StatusCode != http.StatusUnprocessableEntity {
					t.Fatalf("status %d, want 422: %s", r.StatusCode, r.Body)
				}
				doc := r.Doc(t)
				scope := section(t, doc, tt.section)
				where := scope // a full page for no known tracker shows the message above the forms
				if !htmx && tt.path == "/settings/universes" && !slices.Contains(settings.TrackerOptions(), tt.values.Get("tracker")) {
					where = doc.Find("main")
				}
				msg := strings.TrimSpace(where.Find(`[data-testid="` + tt.testid + `"]`).Text())
				if msg == "" {
					t.Fatalf("no message at %s", tt.testid)
				}
				if doc.Find("[data-testid=saved]").Length() != 0 {
					t.Fatal("a saved message next to an error")
				}
				if htmx && (doc.Find("section").Length() != 1 || doc.Find("h1").Length() != 0) {
					t.Fatalf("htmx answer is not just the section: %s", r.Body)
				}
				if !htmx && doc.Find("h1").Length() != 1 {
					t.Fatal("full answer is not the page")
				}
				// The form shows what was sent, not what is stored: fixing the bad field
				// must not cost the other edits. (A full page for no known tracker has no
				// section that answers: its forms show what is stored.)
				tracker := strings.TrimPrefix(tt.section, "universes-")
				switch {
				case tt.section == "filters":
					if got, want := shownForm(scope), sentForm(tt.values, before.Filters); !reflect.DeepEqual(got, want) {
						t.Fatalf("form shows\n%v\nafter an error, want what was sent\n%v", got, want)
					}
				case where != scope:
					if got := checkedValues(scope, "universes"); !slices.Equal(got, before.Selections.For(tracker)) {
						t.Fatalf("form shows %v after an error", got)
					}
				default:
					want := []string{}
					for _, u := range tt.values["universes"] {
						if scope.Find(`input[name="universes"][value="`+u+`"]`).Length() == 1 {
							want = append(want, u)
						}
					}
					slices.Sort(want)
					if got := checkedValues(scope, "universes"); !slices.Equal(got, want) {
						t.Fatalf("form shows %v after an error, want what was sent: %v", got, want)
					}
				}
				// The bad field is marked: aria-invalid, described by its message, and it
				// takes the focus (autofocus: on a full page, and after an htmx swap).
				if field, ok := strings.CutPrefix(tt.testid, "error-"); ok {
					msgID, _ := scope.Find(`[data-testid="` + tt.testid + `"]`).Attr("id")
					inputs := scope.Find(`[name="` + field + `"]`)
					if msgID == "" || inputs.Length() == 0 {
						t.Fatalf("no message id (%q) or no input named %s", msgID, field)
					}
					inputs.Each(func(i int, in *goquery.Selection) {
						if in.AttrOr("aria-invalid", "") != "true" || in.AttrOr("aria-describedby", "") != msgID {
							t.Fatalf("input %d of %s: aria-invalid=%q aria-describedby=%q, want true and %q", i, field,
								in.AttrOr("aria-invalid", ""), in.AttrOr("aria-describedby", ""), msgID)
						}
					})
					if n := doc.Find("[autofocus]").Length(); n != 1 || !inputs.First().Is("[autofocus]") {
						t.Fatalf("%d autofocus fields; the first %s input should be the one", n, field)
					}
					if doc.Find(`[aria-invalid="true"]`).Length() != inputs.Length() {
						t.Fatal("fields without an error are marked invalid")
					}
				}
				assertUnchanged(t, c, before)
			})
		}
	}

	// An unknown tracker from an htmx request that names no section gets the error box.
	r := c.postForm("/settings/universes", url.Values{"tracker": {"sideways"}, "universes": {"ETF_UNIVERSE"}}, "HX-Request", "true")
	if r.StatusCode != http.StatusUnprocessableEntity || r.Doc(t).Find("[data-testid=error-message]").Length() != 1 {
		t.Fatalf("unknown tracker without a target: %d %s", r.StatusCode, r.Body)
	}

	// Malformed form data is a 400.
	for _, path := range []string{"/settings/universes", "/settings/filters"} {
		r := c.postForm(path, url.Values{"tracker": {"high\xfflow"}})
		if r.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s with invalid UTF-8: %d", path, r.StatusCode)
		}
	}
	assertUnchanged(t, c, before)
}

func TestSettingsJSONRefusesInvalid(t *testing.T) {
	app := MustApp(t, unlimited)
	c := signedIn(t, app, "badjson@example.com", "badjson")
	before := baseline(t, c)

	const sel, fil = "/api/user/universe-selections", "/api/user-filters"
	tests := []struct {
		name   string
		path   string
		body   string
		status int
	}{
		{"empty selection", sel, `{"tracker":"highlow","universes":[]}`, 422},
		{"unknown universe", sel, `{"tracker":"highlow","universes":["TECH_UNIVERSE","NOPE_UNIVERSE"]}`, 422},
		{"unknown tracker", sel, `{"tracker":"sideways","universes":["TECH_UNIVERSE"]}`, 422},
		{"missing tracker", sel, `{"universes":["TECH_UNIVERSE"]}`, 422},
		{"missing universes", sel, `{"tracker":"market"}`, 422},
		{"universes not a list", sel, `{"tracker":"highlow","universes":"TECH_UNIVERSE"}`, 422},
		{"universe not a string", sel, `{"tracker":"highlow","universes":[7]}`, 422},
		{"tracker not a string", sel, `{"tracker":1,"universes":["TECH_UNIVERSE"]}`, 422},
		{"unknown selection key", sel, `{"tracker":"highlow","universes":["ETF_UNIVERSE"],"user_id":1}`, 422},
		{"selection not an object", sel, `["ETF_UNIVERSE"]`, 422},
		{"malformed selection", sel, `{"tracker":"highlow",`, 400},
		{"empty selection body", sel, ``, 400},
		{"unknown filter key", fil, `{"filter_data":{"trends":{"speed":"fast"}}}`, 422},
		{"unknown filter section", fil, `{"filter_data":{"news":{}}}`, 422},
		{"unknown top-level key", fil, `{"filter_data":{},"user_id":2}`, 422},
		{"missing filter_data", fil, `{"trends":{"direction":"up"}}`, 422},
		{"wrong type: string number", fil, `{"filter_data":{"highlow":{"min_count":"5"}}}`, 422},
		{"wrong type: fraction", fil, `{"filter_data":{"highlow":{"min_volume":1.5}}}`, 422},
		{"wrong type: section", fil, `{"filter_data":{"trends":"up"}}`, 422},
		{"wrong type: ranges", fil, `{"filter_data":{"surges":{"price_ranges":"penny"}}}`, 422},
		{"bad enum: direction", fil, `{"filter_data":{"trends":{"direction":"sideways"}}}`, 422},
		{"bad enum: strength", fil, `{"filter_data":{"surges":{"min_strength":"huge"}}}`, 422},
		{"bad enum: trigger", fil, `{"filter_data":{"surges":{"trigger":"volume"}}}`, 422},
		{"negative number", fil, `{"filter_data":{"highlow":{"min_volume":-1}}}`, 422},
		{"no price range", fil, `{"filter_data":{"surges":{"price_ranges":[]}}}`, 422},
		{"unknown price range", fil, `{"filter_data":{"surges":{"price_ranges":["micro"]}}}`, 422},
		{"valid change beside an invalid one", fil, `{"filter_data":{"trends":{"direction":"down"},"highlow":{"min_count":-5}}}`, 422},
		{"malformed filters", fil, `{"filter_data":`, 400},
		{"trailing garbage", fil, `{"filter_data":{}} x`, 400},
		{"empty filters body", fil, ``, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.postJSON(tt.path, tt.body)
			if r.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", r.StatusCode, tt.status, r.Body)
			}
			m := r.JSON(t)
			if len(m) != 2 || m["success"] != false {
				t.Fatalf("error body %s", r.Body)
			}
			if msg, _ := m["error"].(string); msg == "" {
				t.Fatalf("no error message: %s", r.Body)
			}
			assertUnchanged(t, c, before)
		})
	}
}

func TestSettingsCSRFRequired(t *testing.T) {
	app := MustApp(t, unlimited)
	c := signedIn(t, app, "csrfset@example.com", "csrfset")
	before := baseline(t, c)
	other := app.NewClient(t)
	other.get("/auth/login") // a valid token, for another session

	tokens := []struct{ name, token string }{{"missing", ""}, {"wrong", "not-the-token"}, {"another session's", other.csrf}}
	for _, tok := range tokens {
		t.Run(tok.name, func(t *testing.T) {
			answers := map[string]response{
				"POST /settings/universes": c.postForm("/settings/universes",
					url.Values{"_csrf": {tok.token}, "tracker": {"highlow"}, "universes": {"ETF_UNIVERSE"}}),
				"POST /settings/filters": c.postForm("/settings/filters",
					func() url.Values { v := filterValues(settings.DefaultFilters()); v.Set("_csrf", tok.token); return v }()),
				"POST /api/user/universe-selections": c.postJSON("/api/user/universe-selections",
					`{"tracker":"highlow","universes":["ETF_UNIVERSE"]}`, "X-CSRF-Token", tok.token),
				"POST /api/user-filters": c.postJSON("/api/user-filters",
					`{"filter_data":{"trends":{"direction":"down"}}}`, "X-CSRF-Token", tok.token),
			}
			for route, r := range answers {
				if r.StatusCode != http.StatusForbidden {
					t.Errorf("%s: status %d, want 403", route, r.StatusCode)
				}
			}
			// The token in the form body does not count for a JSON body.
			r := c.postJSON("/api/user-filters", `{"filter_data":{},"_csrf":"`+c.csrf+`"}`, "X-CSRF-Token", tok.token)
			if r.StatusCode != http.StatusForbidden {
				t.Errorf("JSON with _csrf in the body: %d", r.StatusCode)
			}
			assertUnchanged(t, c, before)
		})
	}
}

func TestSettingsIsolation(t *testing.T) {
	app := MustApp(t, unlimited)
	a := signedIn(t, app, "alice@example.com", "alice")
	b := signedIn(t, app, "bob@example.com", "bobtrader")
	defaults := stored{Selections: settings.DefaultSelections(), Filters: settings.DefaultFilters()}
	assertUnchanged(t, b, defaults)

	// A saves through every route; B still has the defaults, by every route.
	steps := []response{
		a.postForm("/settings/universes", url.Values{"tracker": {"highlow"}, "universes": {"TECH_UNIVERSE"}}),
		a.postForm("/settings/filters", filterValues(custom)),
		a.postJSON("/api/user/universe-selections", `{"tracker":"market","universes":["ETF_UNIVERSE"]}`),
		a.postJSON("/api/user-filters", `{"filter_data":{"trends":{"direction":"down"}}}`),
	}
	for i, r := range steps {
		if r.StatusCode != 200 {
			t.Fatalf("A's save %d: %d %s", i, r.StatusCode, r.Body)
		}
	}
	aWant := stored{
		Selections: settings.Selections{Market: []string{"ETF_UNIVERSE"}, HighLow: []string{"TECH_UNIVERSE"}},
		Filters:    custom.Clone(),
	}
	aWant.Filters.Trends.Direction = settings.DirectionDown
	assertUnchanged(t, a, aWant)
	assertUnchanged(t, b, defaults)
	doc := b.get("/settings").Doc(t)
	if h := doc.Find("h1").Text(); h != "bobtrader's Universe Selection" {
		t.Fatalf("B's page title %q", h)
	}
	if got := checkedValues(section(t, doc, "universes-highlow"), "universes"); !slices.Equal(got, []string{"DEFAULT_UNIVERSE"}) {
		t.Fatalf("B's page shows highlow %v", got)
	}
	if got := shownFilters(t, section(t, doc, "filters")); !reflect.DeepEqual(got, sortedRanges(settings.DefaultFilters())) {
		t.Fatalf("B's page shows %+v", got)
	}
	if strings.Contains(doc.Text(), "alice") {
		t.Fatal("B's page mentions A")
	}

	// B saves; A keeps A's own.
	bFilters := settings.DefaultFilters()
	bFilters.HighLow.MinVolume = 42
	if r := b.postForm("/settings/filters", filterValues(bFilters), "HX-Request", "true"); r.StatusCode != 200 {
		t.Fatalf("B's save: %d", r.StatusCode)
	}
	if r := b.postJSON("/api/user/universe-selections", `{"tracker":"highlow","universes":["FINANCIALS_UNIVERSE"]}`); r.StatusCode != 200 {
		t.Fatalf("B's save: %d", r.StatusCode)
	}
	assertUnchanged(t, a, aWant)
	assertUnchanged(t, b, stored{
		Selections: settings.Selections{Market: []string{"DEFAULT_UNIVERSE"}, HighLow: []string{"FINANCIALS_UNIVERSE"}},
		Filters:    bFilters,
	})
	if got := shownFilters(t, section(t, a.get("/settings").Doc(t), "filters")); got.HighLow.MinVolume != custom.HighLow.MinVolume {
		t.Fatalf("A's page shows min_volume %d", got.HighLow.MinVolume)
	}

	// There is no way to name another user: extra fields are refused, not obeyed.
	if r := a.postJSON("/api/user-filters", `{"filter_data":{},"user":"bob@example.com"}`); r.StatusCode != 422 {
		t.Fatalf("JSON with a user field: %d", r.StatusCode)
	}
	if r := a.postForm("/settings/universes", url.Values{"tracker": {"highlow"}, "universes": {"ETF_UNIVERSE"}, "handle": {"x"}}); r.StatusCode != 422 {
		t.Fatalf("form with a handle field: %d", r.StatusCode)
	}
	if r := a.get("/api/user-filters?user_id=1"); !strings.Contains(r.Body, `"direction":"down"`) {
		t.Fatalf("a query parameter changed whose filters were read: %s", r.Body)
	}
}

func TestSettingsCacheInvalidation(t *testing.T) {
	app := MustApp(t, unlimited)
	u, pw := app.MustUser(t, "cache@example.com", "cachetrader")
	c := app.NewClient(t)
	c.login("cache@example.com", pw)

	readStored(t, c) // load into the cache
	hits := app.deps.Settings.Stats().Hits
	readStored(t, c)
	if app.deps.Settings.Stats().Hits <= hits {
		t.Fatal("a second read did not come from the cache, so this test proves nothing")
	}

	// Each save is visible on the very next read, by any route, well within the TTL.
	f := settings.DefaultFilters()
	f.Trends.Direction = settings.DirectionUp
	if r := c.postForm("/settings/filters", filterValues(f)); r.StatusCode != 200 {
		t.Fatalf("form save: %d", r.StatusCode)
	}
	if got := readStored(t, c).Filters.Trends.Direction; got != "up" {
		t.Fatalf("after the form save: direction %q", got)
	}
	if r := c.postJSON("/api/user-filters", `{"filter_data":{"trends":{"direction":"down"}}}`); r.StatusCode != 200 {
		t.Fatalf("JSON save: %d", r.StatusCode)
	}
	if got := shownFilters(t, section(t, c.get("/settings").Doc(t), "filters")).Trends.Direction; got != "down" {
		t.Fatalf("page after the JSON save: direction %q", got)
	}
	if r := c.postJSON("/api/user/universe-selections", `{"tracker":"market","universes":["ETF_UNIVERSE"]}`); r.StatusCode != 200 {
		t.Fatalf("JSON selection: %d", r.StatusCode)
	}
	if got := checkedValues(section(t, c.get("/settings").Doc(t), "universes-market"), "universes"); !slices.Equal(got, []string{"ETF_UNIVERSE"}) {
		t.Fatalf("page after the JSON selection: %v", got)
	}
	if r := c.postForm("/settings/universes", url.Values{"tracker": {"market"}, "universes": {"TECH_UNIVERSE"}}, "HX-Request", "true"); r.StatusCode != 200 {
		t.Fatalf("form selection: %d", r.StatusCode)
	}
	if got := readStored(t, c).Selections.Market; !slices.Equal(got, []string{"TECH_UNIVERSE"}) {
		t.Fatalf("after the form selection: %v", got)
	}
	// The service itself agrees (the publisher reads through it).
	us, err := app.deps.Settings.Get(context.Background(), u.ID)
	if err != nil || !slices.Equal(us.Selections.Market, []string{"TECH_UNIVERSE"}) || us.Filters.Trends.Direction != "down" {
		t.Fatalf("service sees %+v, %v", us.Settings, err)
	}
}

func TestSettingsSignedOut(t *testing.T) {
	app := MustApp(t)
	c := app.NewClient(t)
	c.get("/auth/login") // a session with a valid CSRF token, so only sign-in is missing

	pages := []struct {
		method, path string
	}{
		{"GET", "/settings"},
		{"POST", "/settings/universes"},
		{"POST", "/settings/filters"},
	}
	for _, p := range pages {
		var r response
		if p.method == "GET" {
			r = c.get(p.path)
		} else {
			r = c.postForm(p.path, url.Values{"tracker": {"highlow"}, "universes": {"ETF_UNIVERSE"}})
		}
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/auth/login" {
			t.Errorf("%s %s: %d %q, want 303 to /auth/login", p.method, p.path, r.StatusCode, r.Header.Get("Location"))
		}
	}
	if r := c.postForm("/settings/filters", url.Values{}, "HX-Request", "true"); r.StatusCode != http.StatusUnauthorized || r.Header.Get("HX-Redirect") != "/auth/login" {
		t.Errorf("htmx post signed out: %d %q", r.StatusCode, r.Header.Get("HX-Redirect"))
	}

	apis := []struct {
		method, path, body string
	}{
		{"GET", "/api/universes", ""},
		{"GET", "/api/user/universe-selections", ""},
		{"POST", "/api/user/universe-selections", `{"tracker":"highlow","universes":["ETF_UNIVERSE"]}`},
		{"GET", "/api/user-filters", ""},
		{"POST", "/api/user-filters", `{"filter_data":{}}`},
	}
	for _, a := range apis {
		var r response
		if a.method == "GET" {
			r = c.get(a.path)
		} else {
			r = c.postJSON(a.path, a.body)
		}
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s: %d, want 401", a.method, a.path, r.StatusCode)
			continue
		}
		if m := r.JSON(t); m["success"] != false || m["error"] == "" {
			t.Errorf("%s %s: body %s", a.method, a.path, r.Body)
		}
	}
}
