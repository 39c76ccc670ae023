package settings_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/settings"
)

// MustCode fails tb unless err is a *tickstock.Error with code and (if field is not empty)
// that Field.
func MustCode(tb testing.TB, err error, code, field string) {
	tb.Helper()
	var te *tickstock.Error
	if !errors.As(err, &te) {
		tb.Fatalf("error = %v (%T), want *tickstock.Error %s", err, err, code)
	}
	if te.Code != code {
		tb.Fatalf("error code = %s (%v), want %s", te.Code, err, code)
	}
	if field != "" && te.Field != field {
		tb.Fatalf("error field = %q (%v), want %q", te.Field, err, field)
	}
	if te.Message == "" {
		tb.Fatalf("error %v has no message", err)
	}
}

func TestDefaultFiltersJSON(t *testing.T) {
	b, err := json.Marshal(settings.DefaultFilters())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"highlow":{"min_count":0,"min_volume":0},"trends":{"min_strength":"moderate","direction":"both"},"surges":{"min_strength":"weak","trigger":"any","price_ranges":["penny","low","mid","high"]},"alerts":{"enabled":false,"sound":true,"notify":true},"display":{"one_row_per_symbol":false}}`
	if string(b) != want {
		t.Fatalf("DefaultFilters JSON =\n%s\nwant\n%s", b, want)
	}
	if err := settings.DefaultFilters().Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	sel, _ := json.Marshal(settings.DefaultSelections())
	if string(sel) != `{"market":["DEFAULT_UNIVERSE"],"highlow":["DEFAULT_UNIVERSE"]}` {
		t.Fatalf("DefaultSelections JSON = %s", sel)
	}
	us, _ := json.Marshal(settings.UserSettings{UserID: 42, Settings: settings.DefaultSettings()})
	if strings.Contains(string(us), "42") {
		t.Fatalf("UserSettings JSON leaks the row id: %s", us)
	}
}

func TestMergeFilterJSON(t *testing.T) {
	def := settings.DefaultFilters()
	with := func(mod func(*settings.Filters)) settings.Filters {
		f := settings.DefaultFilters()
		mod(&f)
		return f
	}
	ok := []struct {
		name string
		body string
		want settings.Filters
	}{
		{"empty filter_data changes nothing", `{"filter_data":{}}`, def},
		{"empty sections change nothing", `{"filter_data":{"highlow":{},"trends":{},"surges":{}}}`, def},
		{"direction only", `{"filter_data":{"trends":{"direction":"up"}}}`, with(func(f *settings.Filters) { f.Trends.Direction = "up" })},
		{"direction down", `{"filter_data":{"trends":{"direction":"down"}}}`, with(func(f *settings.Filters) { f.Trends.Direction = "down" })},
		{"trend strength", `{"filter_data":{"trends":{"min_strength":"strong"}}}`, with(func(f *settings.Filters) { f.Trends.MinStrength = "strong" })},
		{"min_count", `{"filter_data":{"highlow":{"min_count":3}}}`, with(func(f *settings.Filters) { f.HighLow.MinCount = 3 })},
		{"min_volume", `{"filter_data":{"highlow":{"min_volume":1000000}}}`, with(func(f *settings.Filters) { f.HighLow.MinVolume = 1000000 })},
		{"minus zero is zero", `{"filter_data":{"highlow":{"min_count":-0}}}`, def},
		{"max int", `{"filter_data":{"highlow":{"min_volume":9007199254740991}}}`, with(func(f *settings.Filters) { f.HighLow.MinVolume = settings.MaxFilterInt })},
		{"surge strength and trigger", `{"filter_data":{"surges":{"min_strength":"moderate","trigger":"price_and_volume"}}}`,
			with(func(f *settings.Filters) { f.Surges.MinStrength = "moderate"; f.Surges.Trigger = "price_and_volume" })},
		{"ranges replace, deduplicated and ordered", `{"filter_data":{"surges":{"price_ranges":["high","penny","high"]}}}`,
			with(func(f *settings.Filters) { f.Surges.PriceRanges = []string{"penny", "high"} })},
		{"escaped strings", `{"filter_data":{"trends":{"direction":"\u0075p"}}}`, with(func(f *settings.Filters) { f.Trends.Direction = "up" })},
		{"whitespace around", " \n{ \"filter_data\" : { } }\n ", def},
		{"one row per symbol", `{"filter_data":{"display":{"one_row_per_symbol":true}}}`, with(func(f *settings.Filters) { f.Display.OneRowPerSymbol = true })},
		{"one row per symbol off", `{"filter_data":{"display":{"one_row_per_symbol":false}}}`, def},
		{"empty display", `{"filter_data":{"display":{}}}`, def},
		{"everything", `{"filter_data":{"highlow":{"min_count":2,"min_volume":500},"trends":{"min_strength":"weak","direction":"down"},"surges":{"min_strength":"strong","trigger":"any","price_ranges":["mid"]}}}`,
			settings.Filters{
				HighLow: settings.HighLowFilters{MinCount: 2, MinVolume: 500},
				Trends:  settings.TrendFilters{MinStrength: "weak", Direction: "down"},
				Surges:  settings.SurgeFilters{MinStrength: "strong", Trigger: "any", PriceRanges: []string{"mid"}},
				Alerts:  settings.AlertFilters{Sound: true, Notify: true},
			}},
		{"alerts on", `{"filter_data":{"alerts":{"enabled":true}}}`, with(func(f *settings.Filters) { f.Alerts.Enabled = true })},
		{"alerts silent", `{"filter_data":{"alerts":{"enabled":true,"sound":false,"notify":false}}}`,
			with(func(f *settings.Filters) { f.Alerts = settings.AlertFilters{Enabled: true} })},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			got, err := settings.MergeFilterJSON(settings.DefaultFilters(), []byte(tc.body))
			if err != nil {
				t.Fatalf("MergeFilterJSON(%s) = %v", tc.body, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("MergeFilterJSON(%s) =\n%+v\nwant\n%+v", tc.body, got, tc.want)
			}
		})
	}

	bad := []struct {
		name, body, code, field string
	}{
		{"not JSON", `{"filter_data":`, tickstock.EBADREQUEST, ""},
		{"empty body", ``, tickstock.EBADREQUEST, ""},
		{"trailing garbage", `{"filter_data":{}} x`, tickstock.EBADREQUEST, ""},
		{"array body", `[]`, tickstock.EINVALID, "filter_data"},
		{"string body", `"x"`, tickstock.EINVALID, "filter_data"},
		{"missing filter_data", `{}`, tickstock.EINVALID, "filter_data"},
		{"filter_data null", `{"filter_data":null}`, tickstock.EINVALID, "filter_data"},
		{"filter_data array", `{"filter_data":[]}`, tickstock.EINVALID, "filter_data"},
		{"filter_data twice", `{"filter_data":{},"filter_data":{}}`, tickstock.EINVALID, "filter_data"},
		{"unknown top key", `{"filter_data":{},"extra":1}`, tickstock.EINVALID, "extra"},
		{"unknown section", `{"filter_data":{"volume":{}}}`, tickstock.EINVALID, "volume"},
		{"unknown highlow key", `{"filter_data":{"highlow":{"max_count":1}}}`, tickstock.EINVALID, "highlow.max_count"},
		{"unknown trends key", `{"filter_data":{"trends":{"foo":"up"}}}`, tickstock.EINVALID, "trends.foo"},
		{"unknown surges key", `{"filter_data":{"surges":{"ranges":[]}}}`, tickstock.EINVALID, "surges.ranges"},
		{"repeated key", `{"filter_data":{"trends":{"direction":"up","direction":"down"}}}`, tickstock.EINVALID, "trends.direction"},
		{"section not object", `{"filter_data":{"trends":"up"}}`, tickstock.EINVALID, "trends"},
		{"section null", `{"filter_data":{"highlow":null}}`, tickstock.EINVALID, "highlow"},
		{"count as string", `{"filter_data":{"highlow":{"min_count":"5"}}}`, tickstock.EINVALID, "highlow.min_count"},
		{"count float", `{"filter_data":{"highlow":{"min_count":1.5}}}`, tickstock.EINVALID, "highlow.min_count"},
		{"count float whole", `{"filter_data":{"highlow":{"min_count":2.0}}}`, tickstock.EINVALID, "highlow.min_count"},
		{"count exponent", `{"filter_data":{"highlow":{"min_count":1e3}}}`, tickstock.EINVALID, "highlow.min_count"},
		{"count negative", `{"filter_data":{"highlow":{"min_count":-1}}}`, tickstock.EINVALID, "highlow.min_count"},
		{"count null", `{"filter_data":{"highlow":{"min_count":null}}}`, tickstock.EINVALID, "highlow.min_count"},
		{"count bool", `{"filter_data":{"highlow":{"min_count":true}}}`, tickstock.EINVALID, "highlow.min_count"},
		{"alerts not object", `{"filter_data":{"alerts":true}}`, tickstock.EINVALID, "alerts"},
		{"alerts unknown key", `{"filter_data":{"alerts":{"email":true}}}`, tickstock.EINVALID, "alerts.email"},
		{"alerts enabled string", `{"filter_data":{"alerts":{"enabled":"true"}}}`, tickstock.EINVALID, "alerts.enabled"},
		{"alerts sound number", `{"filter_data":{"alerts":{"sound":1}}}`, tickstock.EINVALID, "alerts.sound"},
		{"alerts notify null", `{"filter_data":{"alerts":{"notify":null}}}`, tickstock.EINVALID, "alerts.notify"},
		{"alerts repeated", `{"filter_data":{"alerts":{"enabled":true,"enabled":false}}}`, tickstock.EINVALID, "alerts.enabled"},
		{"volume negative", `{"filter_data":{"highlow":{"min_volume":-5}}}`, tickstock.EINVALID, "highlow.min_volume"},
		{"volume huge", `{"filter_data":{"highlow":{"min_volume":99999999999999999999}}}`, tickstock.EINVALID, "highlow.min_volume"},
		{"volume hugely negative", `{"filter_data":{"highlow":{"min_volume":-99999999999999999999}}}`, tickstock.EINVALID, "highlow.min_volume"},
		{"volume above JS max", `{"filter_data":{"highlow":{"min_volume":9007199254740992}}}`, tickstock.EINVALID, "highlow.min_volume"},
		{"unknown direction", `{"filter_data":{"trends":{"direction":"sideways"}}}`, tickstock.EINVALID, "trends.direction"},
		{"direction upper case", `{"filter_data":{"trends":{"direction":"UP"}}}`, tickstock.EINVALID, "trends.direction"},
		{"direction number", `{"filter_data":{"trends":{"direction":1}}}`, tickstock.EINVALID, "trends.direction"},
		{"trend strength none", `{"filter_data":{"trends":{"min_strength":"none"}}}`, tickstock.EINVALID, "trends.min_strength"},
		{"trend strength list", `{"filter_data":{"trends":{"min_strength":["weak"]}}}`, tickstock.EINVALID, "trends.min_strength"},
		{"surge strength unknown", `{"filter_data":{"surges":{"min_strength":"huge"}}}`, tickstock.EINVALID, "surges.min_strength"},
		{"trigger price only", `{"filter_data":{"surges":{"trigger":"price"}}}`, tickstock.EINVALID, "surges.trigger"},
		{"ranges not array", `{"filter_data":{"surges":{"price_ranges":"penny"}}}`, tickstock.EINVALID, "surges.price_ranges"},
		{"ranges null", `{"filter_data":{"surges":{"price_ranges":null}}}`, tickstock.EINVALID, "surges.price_ranges"},
		{"ranges with number", `{"filter_data":{"surges":{"price_ranges":["penny",5]}}}`, tickstock.EINVALID, "surges.price_ranges"},
		{"ranges unknown", `{"filter_data":{"surges":{"price_ranges":["penny","huge"]}}}`, tickstock.EINVALID, "surges.price_ranges"},
		{"ranges empty", `{"filter_data":{"surges":{"price_ranges":[]}}}`, tickstock.EINVALID, "surges.price_ranges"},
		{"unknown display key", `{"filter_data":{"display":{"dense":true}}}`, tickstock.EINVALID, "display.dense"},
		{"display not object", `{"filter_data":{"display":true}}`, tickstock.EINVALID, "display"},
		{"one row as string", `{"filter_data":{"display":{"one_row_per_symbol":"true"}}}`, tickstock.EINVALID, "display.one_row_per_symbol"},
		{"one row as number", `{"filter_data":{"display":{"one_row_per_symbol":1}}}`, tickstock.EINVALID, "display.one_row_per_symbol"},
		{"one row null", `{"filter_data":{"display":{"one_row_per_symbol":null}}}`, tickstock.EINVALID, "display.one_row_per_symbol"},
		{"one row twice", `{"filter_data":{"display":{"one_row_per_symbol":true,"one_row_per_symbol":false}}}`, tickstock.EINVALID, "display.one_row_per_symbol"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			got, err := settings.MergeFilterJSON(settings.DefaultFilters(), []byte(tc.body))
			MustCode(t, err, tc.code, tc.field)
			if !reflect.DeepEqual(got, settings.Filters{}) {
				t.Fatalf("on error got %+v, want the zero Filters", got)
			}
		})
	}
}

func TestMergeFilterJSONKeepsCurrent(t *testing.T) {
	cur := settings.Filters{
		HighLow: settings.HighLowFilters{MinCount: 4, MinVolume: 9},
		Trends:  settings.TrendFilters{MinStrength: "strong", Direction: "down"},
		Surges:  settings.SurgeFilters{MinStrength: "moderate", Trigger: "price_and_volume", PriceRanges: []string{"low", "mid"}},
	}
	got, err := settings.MergeFilterJSON(cur, []byte(`{"filter_data":{"highlow":{"min_volume":10}}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := cur
	want.HighLow.MinVolume = 10
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	got.Surges.PriceRanges[0] = "changed"
	if cur.Surges.PriceRanges[0] != "low" {
		t.Fatal("the result shares price_ranges with current")
	}
}

func TestMessagesNameTheField(t *testing.T) {
	_, err := settings.MergeFilterJSON(settings.DefaultFilters(), []byte(`{"filter_data":{"trends":{"direction":"x"}}}`))
	if msg := tickstock.ErrorMessage(err); !strings.Contains(msg, "trends.direction") {
		t.Errorf("JSON message %q does not name trends.direction", msg)
	}
	form := mustValidForm()
	form.Set("trends.direction", "x")
	_, err = settings.FiltersFromForm(form)
	if msg := tickstock.ErrorMessage(err); !strings.HasPrefix(msg, "Trend direction") {
		t.Errorf("form message %q does not start with the label", msg)
	}
	long := strings.Repeat("k", 5000)
	_, err = settings.MergeFilterJSON(settings.DefaultFilters(), []byte(`{"filter_data":{"`+long+`":1}}`))
	if msg := tickstock.ErrorMessage(err); len(msg) > 200 {
		t.Errorf("message repeats a huge key: %d bytes", len(msg))
	}
}

func mustValidForm() url.Values {
	return url.Values{
		"_csrf":               {"token"},
		"highlow.min_count":   {"2"},
		"highlow.min_volume":  {"1000"},
		"trends.min_strength": {"strong"},
		"trends.direction":    {"up"},
		"surges.min_strength": {"moderate"},
		"surges.trigger":      {"price_and_volume"},
		"surges.price_ranges": {"mid", "penny", "mid"},
	}
}

func TestFiltersFromForm(t *testing.T) {
	got, err := settings.FiltersFromForm(mustValidForm())
	if err != nil {
		t.Fatal(err)
	}
	want := settings.Filters{
		HighLow: settings.HighLowFilters{MinCount: 2, MinVolume: 1000},
		Trends:  settings.TrendFilters{MinStrength: "strong", Direction: "up"},
		Surges:  settings.SurgeFilters{MinStrength: "moderate", Trigger: "price_and_volume", PriceRanges: []string{"penny", "mid"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("FiltersFromForm = %+v, want %+v", got, want)
	}

	spaces := mustValidForm()
	spaces.Set("highlow.min_count", " 7 ")
	spaces.Set("highlow.min_volume", "")
	spaces.Set("trends.direction", " down ")
	got, err = settings.FiltersFromForm(spaces)
	if err != nil {
		t.Fatal(err)
	}
	if got.HighLow.MinCount != 7 || got.HighLow.MinVolume != 0 || got.Trends.Direction != "down" {
		t.Fatalf("trimmed/empty form values = %+v", got)
	}

	// Alerts are checkboxes: ticked boxes are sent (as "on"), unticked ones are not.
	for _, tc := range []struct {
		set  map[string]string
		want settings.AlertFilters
	}{
		{nil, settings.AlertFilters{}},
		{map[string]string{"alerts.enabled": "on", "alerts.sound": "on", "alerts.notify": "on"}, settings.AlertFilters{Enabled: true, Sound: true, Notify: true}},
		{map[string]string{"alerts.enabled": "true", "alerts.notify": "1"}, settings.AlertFilters{Enabled: true, Notify: true}},
		{map[string]string{"alerts.enabled": "off", "alerts.sound": " ON "}, settings.AlertFilters{Sound: true}},
	} {
		v := mustValidForm()
		for k, x := range tc.set {
			v.Set(k, x)
		}
		got, err := settings.FiltersFromForm(v)
		if err != nil || got.Alerts != tc.want {
			t.Errorf("alerts from %v = %+v (%v), want %+v", tc.set, got.Alerts, err, tc.want)
		}
	}
	// The display checkbox: absent is off; a ticked box sends "on" (or the value "true").
	for _, v := range []string{"on", "true", " true "} {
		form := mustValidForm()
		form.Set(settings.FieldOneRow, v)
		got, err := settings.FiltersFromForm(form)
		if err != nil || !got.Display.OneRowPerSymbol {
			t.Fatalf("one row per symbol %q: %+v, %v", v, got.Display, err)
		}
	}

	bad := []struct {
		name  string
		mod   func(url.Values)
		field string
	}{
		{"unknown field", func(v url.Values) { v.Set("trends.speed", "1") }, "trends.speed"},
		{"missing count", func(v url.Values) { v.Del("highlow.min_count") }, "highlow.min_count"},
		{"count twice", func(v url.Values) { v["highlow.min_count"] = []string{"1", "2"} }, "highlow.min_count"},
		{"count letters", func(v url.Values) { v.Set("highlow.min_count", "ten") }, "highlow.min_count"},
		{"count float", func(v url.Values) { v.Set("highlow.min_count", "1.5") }, "highlow.min_count"},
		{"count plus", func(v url.Values) { v.Set("highlow.min_count", "+1") }, "highlow.min_count"},
		{"count negative", func(v url.Values) { v.Set("highlow.min_count", "-1") }, "highlow.min_count"},
		{"volume huge", func(v url.Values) { v.Set("highlow.min_volume", "1e30") }, "highlow.min_volume"},
		{"volume overflow", func(v url.Values) { v.Set("highlow.min_volume", "99999999999999999999") }, "highlow.min_volume"},
		{"missing trend strength", func(v url.Values) { v.Del("trends.min_strength") }, "trends.min_strength"},
		{"bad trend strength", func(v url.Values) { v.Set("trends.min_strength", "none") }, "trends.min_strength"},
		{"bad direction", func(v url.Values) { v.Set("trends.direction", "left") }, "trends.direction"},
		{"bad surge strength", func(v url.Values) { v.Set("surges.min_strength", "") }, "surges.min_strength"},
		{"bad trigger", func(v url.Values) { v.Set("surges.trigger", "volume") }, "surges.trigger"},
		{"no ranges ticked", func(v url.Values) { v.Del("surges.price_ranges") }, "surges.price_ranges"},
		{"unknown range", func(v url.Values) { v.Add("surges.price_ranges", "giant") }, "surges.price_ranges"},
		{"alerts twice", func(v url.Values) { v["alerts.enabled"] = []string{"on", "on"} }, "alerts.enabled"},
		{"alerts odd value", func(v url.Values) { v.Set("alerts.sound", "loud") }, "alerts.sound"},
		{"unknown alerts field", func(v url.Values) { v.Set("alerts.email", "on") }, "alerts.email"},
		{"one row yes", func(v url.Values) { v.Set(settings.FieldOneRow, "yes") }, settings.FieldOneRow},
		{"one row twice", func(v url.Values) { v[settings.FieldOneRow] = []string{"on", "on"} }, settings.FieldOneRow},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			v := mustValidForm()
			tc.mod(v)
			got, err := settings.FiltersFromForm(v)
			MustCode(t, err, tickstock.EINVALID, tc.field)
			if !reflect.DeepEqual(got, settings.Filters{}) {
				t.Fatalf("on error got %+v, want the zero Filters", got)
			}
		})
	}
}

func TestParseSelectionJSON(t *testing.T) {
	tr, us, err := settings.ParseSelectionJSON([]byte(`{"tracker":"highlow","universes":["TECH_UNIVERSE","ETF_UNIVERSE","TECH_UNIVERSE"]}`))
	if err != nil || tr != "highlow" || !reflect.DeepEqual(us, []string{"ETF_UNIVERSE", "TECH_UNIVERSE"}) {
		t.Fatalf("ParseSelectionJSON = %q %v %v", tr, us, err)
	}
	bad := []struct{ name, body, code, field string }{
		{"not JSON", `{"tracker":`, tickstock.EBADREQUEST, ""},
		{"array", `["highlow"]`, tickstock.EINVALID, "universes"},
		{"no tracker", `{"universes":["TECH_UNIVERSE"]}`, tickstock.EINVALID, "tracker"},
		{"no universes", `{"tracker":"market"}`, tickstock.EINVALID, "universes"},
		{"bad tracker", `{"tracker":"trends","universes":["TECH_UNIVERSE"]}`, tickstock.EINVALID, "tracker"},
		{"tracker number", `{"tracker":1,"universes":["TECH_UNIVERSE"]}`, tickstock.EINVALID, "tracker"},
		{"universes string", `{"tracker":"market","universes":"TECH_UNIVERSE"}`, tickstock.EINVALID, "universes"},
		{"universes null", `{"tracker":"market","universes":null}`, tickstock.EINVALID, "universes"},
		{"universe number", `{"tracker":"market","universes":[1]}`, tickstock.EINVALID, "universes"},
		{"empty", `{"tracker":"market","universes":[]}`, tickstock.EINVALID, "universes"},
		{"malformed name", `{"tracker":"market","universes":["tech universe"]}`, tickstock.EINVALID, "universes"},
		{"unknown key", `{"tracker":"market","universes":["X"],"user_id":2}`, tickstock.EINVALID, "user_id"},
		{"repeated key", `{"tracker":"market","tracker":"highlow","universes":["X"]}`, tickstock.EINVALID, "tracker"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := settings.ParseSelectionJSON([]byte(tc.body))
			MustCode(t, err, tc.code, tc.field)
		})
	}
}

func TestSelectionFromForm(t *testing.T) {
	tr, us, err := settings.SelectionFromForm(url.Values{"_csrf": {"x"}, "tracker": {"market"}, "universes": {"B_U", "A_U"}})
	if err != nil || tr != "market" || !reflect.DeepEqual(us, []string{"A_U", "B_U"}) {
		t.Fatalf("SelectionFromForm = %q %v %v", tr, us, err)
	}
	bad := []struct {
		name  string
		form  url.Values
		field string
	}{
		{"nothing ticked", url.Values{"tracker": {"market"}}, "universes"},
		{"no tracker", url.Values{"universes": {"A"}}, "tracker"},
		{"two trackers", url.Values{"tracker": {"market", "highlow"}, "universes": {"A"}}, "tracker"},
		{"bad tracker", url.Values{"tracker": {"x"}, "universes": {"A"}}, "tracker"},
		{"unknown field", url.Values{"tracker": {"market"}, "universes": {"A"}, "user": {"2"}}, "user"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := settings.SelectionFromForm(tc.form)
			MustCode(t, err, tickstock.EINVALID, tc.field)
		})
	}
}

func TestValidateSelection(t *testing.T) {
	known := []string{"DEFAULT_UNIVERSE", "ETF_UNIVERSE", "TECH_UNIVERSE"}
	got, err := settings.ValidateSelection("highlow", []string{"TECH_UNIVERSE", "DEFAULT_UNIVERSE", "TECH_UNIVERSE"}, known)
	if err != nil || !reflect.DeepEqual(got, []string{"DEFAULT_UNIVERSE", "TECH_UNIVERSE"}) {
		t.Fatalf("ValidateSelection = %v, %v", got, err)
	}
	bad := []struct {
		name      string
		tracker   string
		universes []string
		field     string
	}{
		{"bad tracker", "trends", []string{"TECH_UNIVERSE"}, "tracker"},
		{"empty tracker", "", []string{"TECH_UNIVERSE"}, "tracker"},
		{"empty list", "market", nil, "universes"},
		{"unknown", "market", []string{"TECH_UNIVERSE", "NOPE_UNIVERSE"}, "universes"},
		{"wrong case", "market", []string{"tech_universe"}, "universes"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := settings.ValidateSelection(tc.tracker, tc.universes, known)
			MustCode(t, err, tickstock.EINVALID, tc.field)
		})
	}
}

// mustUserError fails tb unless err is a 400 or a 422 with a field: parsers must never
// produce an internal error or a panic, whatever the input.
func mustUserError(tb testing.TB, err error) {
	tb.Helper()
	var te *tickstock.Error
	if !errors.As(err, &te) {
		tb.Fatalf("error %v is not a *tickstock.Error", err)
	}
	switch te.Code {
	case tickstock.EBADREQUEST:
	case tickstock.EINVALID:
		if te.Field == "" {
			tb.Fatalf("422 without a field: %v", err)
		}
	default:
		tb.Fatalf("error code %s for user input: %v", te.Code, err)
	}
}

func FuzzMergeFilterJSON(f *testing.F) {
	for _, s := range []string{
		`{"filter_data":{}}`,
		`{"filter_data":{"trends":{"direction":"up"}}}`,
		`{"filter_data":{"highlow":{"min_count":1.5,"min_volume":-1}}}`,
		`{"filter_data":{"surges":{"price_ranges":["high","penny","high"],"trigger":"price_and_volume"}}}`,
		`{"filter_data":{"surges":{"price_ranges":[]}}}`,
		`{"filter_data":{"x":1},"filter_data":2}`,
		`[1,2,3]`, `null`, `"\ud800"`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := settings.MergeFilterJSON(settings.DefaultFilters(), body)
		if err != nil {
			mustUserError(t, err)
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("accepted %q but the result does not validate: %v", body, err)
		}
		if !reflect.DeepEqual(got, got.Normalized()) {
			t.Fatalf("accepted %q but the result is not normalised: %+v", body, got)
		}
		// What is stored reads back unchanged, over any current filters.
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		other := settings.Filters{
			HighLow: settings.HighLowFilters{MinCount: 9, MinVolume: 9},
			Trends:  settings.TrendFilters{MinStrength: "strong", Direction: "down"},
			Surges:  settings.SurgeFilters{MinStrength: "strong", Trigger: "price_and_volume", PriceRanges: []string{"low"}},
		}
		back, err := settings.MergeFilterJSON(other, []byte(`{"filter_data":`+string(b)+`}`))
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Fatalf("round trip of %s = %+v, %v", b, back, err)
		}
	})
}

func FuzzFiltersFromForm(f *testing.F) {
	for _, s := range []string{
		mustValidForm().Encode(),
		"highlow.min_count=&highlow.min_volume=&trends.min_strength=weak&trends.direction=both&surges.min_strength=weak&surges.trigger=any&surges.price_ranges=penny",
		"highlow.min_count=-1",
		"surges.price_ranges=penny&surges.price_ranges=giant",
		"_csrf=x&x=y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		values, err := url.ParseQuery(query)
		if err != nil {
			return // the HTTP layer answers malformed form data with 400 before we see it
		}
		got, err := settings.FiltersFromForm(values)
		if err != nil {
			mustUserError(t, err)
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("accepted %q but the result does not validate: %v", query, err)
		}
		if !reflect.DeepEqual(got, got.Normalized()) {
			t.Fatalf("accepted %q but the result is not normalised: %+v", query, got)
		}
	})
}

func FuzzParseSelectionJSON(f *testing.F) {
	for _, s := range []string{
		`{"tracker":"highlow","universes":["TECH_UNIVERSE"]}`,
		`{"tracker":"market","universes":["B","A","B"]}`,
		`{"tracker":"market","universes":[]}`,
		`{"tracker":null}`, `{}`, `[]`, `1`,
	} {
		f.Add([]byte(s))
	}
	known := []string{"A", "B", "DEFAULT_UNIVERSE", "TECH_UNIVERSE"}
	f.Fuzz(func(t *testing.T, body []byte) {
		tracker, universes, err := settings.ParseSelectionJSON(body)
		if err != nil {
			mustUserError(t, err)
			return
		}
		if tracker != settings.TrackerHighLow && tracker != settings.TrackerMarket {
			t.Fatalf("accepted tracker %q", tracker)
		}
		if len(universes) == 0 {
			t.Fatalf("accepted an empty selection from %q", body)
		}
		for i := 1; i < len(universes); i++ {
			if universes[i-1] >= universes[i] {
				t.Fatalf("universes not sorted and unique: %q", universes)
			}
		}
		got, err := settings.ValidateSelection(tracker, universes, known)
		if err != nil {
			mustUserError(t, err)
			return
		}
		if !reflect.DeepEqual(got, universes) {
			t.Fatalf("ValidateSelection changed a canonical list: %q → %q", universes, got)
		}
	})
}
