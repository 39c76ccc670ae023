package settings

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tickstock/tickstock"
)

// MergeFilterJSON applies the body of POST /api/user-filters, {"filter_data":{...}}, over
// current and returns the validated, normalised result. filter_data is a partial object:
// only the keys it names change, so {"filter_data":{"trends":{"direction":"up"}}} changes the
// trend direction alone; a price_ranges list replaces the whole list.
//
// A body that is not JSON is a tickstock.EBADREQUEST error (400). Everything else that is
// wrong is a 422 whose Field is the offending path ("trends.direction"): a body without
// filter_data, unknown or repeated keys at any level, a value of the wrong type (a string or
// 1.5 where a whole number belongs), a negative number, an unknown enum value or price
// range, or an empty price_ranges list (see rangeMask for why). Duplicate price ranges are
// dropped, not refused. On error the returned Filters is the zero value.
func MergeFilterJSON(current Filters, body []byte) (Filters, error) {
	if !json.Valid(body) {
		return Filters{}, tickstock.Errorf(tickstock.EBADREQUEST, "The request body is not valid JSON.")
	}
	body = bytes.TrimSpace(body)
	if body[0] != '{' {
		return Filters{}, tickstock.FieldError(FieldFilterData, `The body must be a JSON object like {"filter_data": {"trends": {"direction": "up"}}}.`)
	}
	f := current.Clone()
	var data json.RawMessage
	err := eachMember(body, func(key string, raw json.RawMessage) error {
		if key != FieldFilterData {
			return unknownField(key)
		}
		if data != nil {
			return repeatedField(key)
		}
		data = raw
		return nil
	})
	if err != nil {
		return Filters{}, err
	}
	if data == nil {
		return Filters{}, tickstock.FieldError(FieldFilterData, "filter_data is required: send the filters to change as an object.")
	}
	if err := mergeFilters(&f, data); err != nil {
		return Filters{}, err
	}
	f = f.Normalized()
	if err := f.validate(pathStyle); err != nil {
		return Filters{}, err
	}
	return f, nil
}

// mergeFilters merges the filter_data object into f, one section at a time.
func mergeFilters(f *Filters, data json.RawMessage) error {
	sections := map[string]func(json.RawMessage) error{
		"highlow": func(raw json.RawMessage) error {
			return mergeSection(raw, "highlow", map[string]func(json.RawMessage) error{
				"min_count":  func(v json.RawMessage) error { return jsonInt(FieldMinCount, v, &f.HighLow.MinCount) },
				"min_volume": func(v json.RawMessage) error { return jsonInt(FieldMinVolume, v, &f.HighLow.MinVolume) },
			})
		},
		"trends": func(raw json.RawMessage) error {
			return mergeSection(raw, "trends", map[string]func(json.RawMessage) error{
				"min_strength": func(v json.RawMessage) error {
					return jsonEnum(FieldTrendStrength, v, &f.Trends.MinStrength, badStrength(pathStyle, FieldTrendStrength))
				},
				"direction": func(v json.RawMessage) error {
					return jsonEnum(FieldTrendDirection, v, &f.Trends.Direction, badDirection(pathStyle))
				},
			})
		},
		"surges": func(raw json.RawMessage) error {
			return mergeSection(raw, "surges", map[string]func(json.RawMessage) error{
				"min_strength": func(v json.RawMessage) error {
					return jsonEnum(FieldSurgeStrength, v, &f.Surges.MinStrength, badStrength(pathStyle, FieldSurgeStrength))
				},
				"trigger": func(v json.RawMessage) error {
					return jsonEnum(FieldSurgeTrigger, v, &f.Surges.Trigger, badTrigger(pathStyle))
				},
				"price_ranges": func(v json.RawMessage) error { return jsonRanges(v, &f.Surges.PriceRanges) },
			})
		},
		"alerts": func(raw json.RawMessage) error {
			return mergeSection(raw, "alerts", map[string]func(json.RawMessage) error{
				"enabled": func(v json.RawMessage) error { return jsonBool(FieldAlertsEnabled, v, &f.Alerts.Enabled) },
				"sound":   func(v json.RawMessage) error { return jsonBool(FieldAlertsSound, v, &f.Alerts.Sound) },
				"notify":  func(v json.RawMessage) error { return jsonBool(FieldAlertsNotify, v, &f.Alerts.Notify) },
			})
		},
		"display": func(raw json.RawMessage) error {
			return mergeSection(raw, "display", map[string]func(json.RawMessage) error{
				"one_row_per_symbol": func(v json.RawMessage) error { return jsonBool(FieldOneRow, v, &f.Display.OneRowPerSymbol) },
			})
		},
	}
	return mergeSection(data, FieldFilterData, sections)
}

// mergeSection walks one JSON object, handing each known key to its setter. It refuses a
// value that is not an object, unknown keys and keys given twice (encoding/json would
// silently keep the last, hiding a client's bug). path is the object's own path; its keys'
// paths are relative to filter_data, which the user never repeats in a field name.
func mergeSection(raw json.RawMessage, path string, setters map[string]func(json.RawMessage) error) error {
	if len(raw) == 0 || raw[0] != '{' {
		return fieldErr(pathStyle, path, "must be an object.")
	}
	seen := make(map[string]bool, len(setters))
	return eachMember(raw, func(key string, v json.RawMessage) error {
		sub := key
		if path != FieldFilterData {
			sub = path + "." + key
		}
		set, ok := setters[key]
		if !ok {
			return unknownField(sub)
		}
		if seen[key] {
			return repeatedField(sub)
		}
		seen[key] = true
		return set(v)
	})
}

// eachMember calls fn for each member of the JSON object raw, in order, stopping at the
// first error. raw must be valid JSON starting with '{'.
func eachMember(raw []byte, fn func(key string, v json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return tickstock.Errorf(tickstock.EBADREQUEST, "The request body is not valid JSON.")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return tickstock.Errorf(tickstock.EBADREQUEST, "The request body is not valid JSON.")
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return tickstock.Errorf(tickstock.EBADREQUEST, "The request body is not valid JSON.")
		}
		if err := fn(key, v); err != nil {
			return err
		}
	}
	return nil
}

// jsonInt reads a whole number ≥ 0 written as a plain JSON integer: strings, fractions
// (1.5) and exponents (1e3) are refused, so what the client sent is exactly what is stored.
func jsonInt(field string, raw json.RawMessage, dst *int64) error {
	n, err := parseWhole(pathStyle, field, string(raw))
	if err != nil {
		return err
	}
	*dst = n
	return nil
}

// parseWhole parses a base-10 integer within [0, MaxFilterInt].
func parseWhole(st msgStyle, field, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || strings.HasPrefix(s, "+") {
		if errors.Is(err, strconv.ErrRange) {
			if strings.HasPrefix(s, "-") {
				return 0, fieldErr(st, field, "must be 0 or more.")
			}
			return 0, fieldErr(st, field, "must be at most %d.", int64(MaxFilterInt))
		}
		return 0, fieldErr(st, field, "must be a whole number, 0 or more.")
	}
	if err := checkInt(st, field, n); err != nil {
		return 0, err
	}
	return n, nil
}

// jsonBool reads a JSON true or false; anything else (a string "true", 1, null) is a 422.
func jsonBool(field string, raw json.RawMessage, dst *bool) error {
	switch string(raw) {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		return fieldErr(pathStyle, field, "must be true or false.")
	}
	return nil
}

// jsonEnum reads a JSON string; the caller validates the value afterwards, but a value of
// another type gets bad, the same message an unknown value would.
func jsonEnum(field string, raw json.RawMessage, dst *string, bad error) error {
	if len(raw) == 0 || raw[0] != '"' {
		return bad
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return bad
	}
	*dst = s
	return nil
}

// jsonRanges reads price_ranges: a JSON array of known range names.
func jsonRanges(raw json.RawMessage, dst *[]string) error {
	notList := fieldErr(pathStyle, FieldPriceRanges, "must be a list of range names: penny, low, mid, high.")
	if len(raw) == 0 || raw[0] != '[' {
		return notList
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return notList
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		if len(it) == 0 || it[0] != '"' {
			return notList
		}
		var s string
		if err := json.Unmarshal(it, &s); err != nil {
			return notList
		}
		if rangeBit(s) == 0 {
			return fieldErr(pathStyle, FieldPriceRanges, "has unknown range %s; choose from penny, low, mid and high.", quote(s))
		}
		out = append(out, s)
	}
	*dst = out
	return nil
}

// FiltersFromForm reads the filter form (POST /settings/filters and the admin's copy): the
// fields named by the Field* constants, with surges.price_ranges repeated, one per ticked
// box. It replaces the filters whole: every scalar field must be present exactly once, and
// missing price_ranges means none were ticked, which is refused like an empty list. An empty
// number box means 0 ("no minimum"); surrounding spaces are ignored. The alerts.* fields are
// checkboxes: present (on, true or 1) means true and absent means false, as a browser sends
// them. The display checkbox (display.one_row_per_symbol) is on when sent as "true" or "on",
// off when absent; any other value is a 422. _csrf is ignored and any other field is a 422,
// as are the value errors MergeFilterJSON refuses. Messages use the fields' labels ("Trend
// direction must be ..."), to sit next to the inputs. On error the returned Filters is the
// zero value.
func FiltersFromForm(values map[string][]string) (Filters, error) {
	if err := onlyFields(values, FieldMinCount, FieldMinVolume, FieldTrendStrength,
		FieldTrendDirection, FieldSurgeStrength, FieldSurgeTrigger, FieldPriceRanges,
		FieldAlertsEnabled, FieldAlertsSound, FieldAlertsNotify, FieldOneRow); err != nil {
		return Filters{}, err
	}
	var f Filters
	if _, ok := values[FieldOneRow]; ok {
		s, err := formOne(values, FieldOneRow)
		if err != nil {
			return Filters{}, err
		}
		switch s {
		case "true", "on":
			f.Display.OneRowPerSymbol = true
		case "false", "":
		default:
			return Filters{}, fieldErr(labelStyle, FieldOneRow, "must be on or off.")
		}
	}
	for _, it := range []struct {
		field string
		dst   *int64
	}{{FieldMinCount, &f.HighLow.MinCount}, {FieldMinVolume, &f.HighLow.MinVolume}} {
		s, err := formOne(values, it.field)
		if err != nil {
			return Filters{}, err
		}
		if s == "" {
			continue
		}
		if *it.dst, err = parseWhole(labelStyle, it.field, s); err != nil {
			return Filters{}, err
		}
	}
	for _, it := range []struct {
		field string
		dst   *string
	}{
		{FieldTrendStrength, &f.Trends.MinStrength},
		{FieldTrendDirection, &f.Trends.Direction},
		{FieldSurgeStrength, &f.Surges.MinStrength},
		{FieldSurgeTrigger, &f.Surges.Trigger},
	} {
		s, err := formOne(values, it.field)
		if err != nil {
			return Filters{}, err
		}
		*it.dst = s
	}
	ranges := make([]string, 0, len(values[FieldPriceRanges]))
	for _, r := range values[FieldPriceRanges] {
		ranges = append(ranges, strings.TrimSpace(r))
	}
	f.Surges.PriceRanges = ranges
	for _, it := range []struct {
		field string
		dst   *bool
	}{
		{FieldAlertsEnabled, &f.Alerts.Enabled},
		{FieldAlertsSound, &f.Alerts.Sound},
		{FieldAlertsNotify, &f.Alerts.Notify},
	} {
		on, err := formCheckbox(values, it.field)
		if err != nil {
			return Filters{}, err
		}
		*it.dst = on
	}
	f = f.Normalized()
	if err := f.validate(labelStyle); err != nil {
		return Filters{}, err
	}
	return f, nil
}

// formCheckbox reads a checkbox: absent is false; present once, "on" (what a browser sends
// for a box without a value), "true" or "1" is true, and "off", "false", "0" or "" false.
func formCheckbox(values map[string][]string, field string) (bool, error) {
	vs := values[field]
	switch len(vs) {
	case 0:
		return false, nil
	case 1:
	default:
		return false, fieldErr(labelStyle, field, "is given more than once.")
	}
	switch strings.ToLower(strings.TrimSpace(vs[0])) {
	case "on", "true", "1":
		return true, nil
	case "off", "false", "0", "":
		return false, nil
	}
	return false, fieldErr(labelStyle, field, "must be on or off.")
}

// ParseSelectionJSON reads the body of POST /api/user/universe-selections,
// {"tracker":"highlow","universes":["TECH_UNIVERSE"]}, with MergeFilterJSON's strictness:
// not JSON is a 400; unknown or repeated keys, a missing or unknown tracker, universes that
// are not a list of strings, or an empty list are 422s. The universes come back deduplicated
// and sorted; whether they exist is ValidateSelection's question (Service.SaveSelection asks
// it).
func ParseSelectionJSON(body []byte) (tracker string, universes []string, err error) {
	if !json.Valid(body) {
		return "", nil, tickstock.Errorf(tickstock.EBADREQUEST, "The request body is not valid JSON.")
	}
	body = bytes.TrimSpace(body)
	if body[0] != '{' {
		return "", nil, tickstock.FieldError(FieldUniverses, `The body must be a JSON object like {"tracker": "highlow", "universes": ["TECH_UNIVERSE"]}.`)
	}
	var gotTracker, gotUniverses bool
	err = eachMember(body, func(key string, raw json.RawMessage) error {
		switch key {
		case FieldTracker:
			if gotTracker {
				return repeatedField(key)
			}
			gotTracker = true
			if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &tracker) != nil {
				return badTracker()
			}
		case FieldUniverses:
			if gotUniverses {
				return repeatedField(key)
			}
			gotUniverses = true
			notList := tickstock.FieldError(FieldUniverses, "universes must be a list of universe names.")
			var items []json.RawMessage
			if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
				return notList
			}
			universes = make([]string, 0, len(items))
			for _, it := range items {
				var s string
				if len(it) == 0 || it[0] != '"' || json.Unmarshal(it, &s) != nil {
					return notList
				}
				universes = append(universes, s)
			}
		default:
			return unknownField(key)
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	if !gotTracker {
		return "", nil, tickstock.FieldError(FieldTracker, `tracker is required: "highlow" or "market".`)
	}
	if !gotUniverses {
		return "", nil, tickstock.FieldError(FieldUniverses, "universes is required: a list of universe names.")
	}
	universes, err = checkSelection(tracker, universes)
	if err != nil {
		return "", nil, err
	}
	return tracker, universes, nil
}

// SelectionFromForm reads the universe form (POST /settings/universes): tracker once and
// universes repeated, one per ticked box. _csrf is ignored; other fields, a missing or
// unknown tracker and no universe at all are 422s. The universes come back deduplicated
// and sorted; their existence is checked by ValidateSelection.
func SelectionFromForm(values map[string][]string) (tracker string, universes []string, err error) {
	if err := onlyFields(values, FieldTracker, FieldUniverses); err != nil {
		return "", nil, err
	}
	if tracker, err = formOne(values, FieldTracker); err != nil {
		return "", nil, err
	}
	universes = make([]string, 0, len(values[FieldUniverses]))
	for _, u := range values[FieldUniverses] {
		universes = append(universes, strings.TrimSpace(u))
	}
	universes, err = checkSelection(tracker, universes)
	if err != nil {
		return "", nil, err
	}
	return tracker, universes, nil
}

// ValidateSelection checks a tracker's selection against the known universe names (SPEC
// section 5: not empty, only existing universes) and returns it deduplicated and sorted,
// the canonical order stored and compared. Names are case-sensitive, as stored. Every
// failure is a 422: Field "tracker" for a tracker other than highlow or market, "universes"
// for an empty list or an unknown name.
func ValidateSelection(tracker string, universes []string, known []string) ([]string, error) {
	out, err := checkSelection(tracker, universes)
	if err != nil {
		return nil, err
	}
	set := make(map[string]struct{}, len(known))
	for _, k := range known {
		set[k] = struct{}{}
	}
	for _, u := range out {
		if _, ok := set[u]; !ok {
			return nil, unknownUniverse(u)
		}
	}
	return out, nil
}

// checkSelection is ValidateSelection without the existence check: the parsers use it so a
// bad request fails before any database work.
func checkSelection(tracker string, universes []string) ([]string, error) {
	if tracker != TrackerHighLow && tracker != TrackerMarket {
		return nil, badTracker()
	}
	out := slices.Clone(universes)
	sort.Strings(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil, tickstock.FieldError(FieldUniverses, "Choose at least one universe.")
	}
	for _, u := range out {
		if !validSelectionName(u) {
			return nil, unknownUniverse(u)
		}
	}
	return out, nil
}

// validUniverseName mirrors the universes.name CHECK constraint, so a name that could never
// exist is refused without asking the database.
func validUniverseName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

func badTracker() error {
	return tickstock.FieldError(FieldTracker, `Tracker must be "highlow" or "market".`)
}

func unknownUniverse(name string) error {
	return tickstock.FieldError(FieldUniverses, "Unknown universe %s.", quote(name))
}

// unknownField refuses a key or form field. Its Field is the (shortened) name, or `""` for
// an empty name, so a 422 always names a field.
func unknownField(path string) error {
	field := truncate(path)
	if field == "" {
		field = `""`
	}
	return tickstock.FieldError(field, "Unknown field %s.", quote(path))
}

func repeatedField(path string) error {
	return tickstock.FieldError(path, "%s is given more than once.", path)
}

// onlyFields refuses form fields other than allowed and _csrf, in sorted order so the
// same bad form always gets the same message.
func onlyFields(values map[string][]string, allowed ...string) error {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != FieldCSRF && !slices.Contains(allowed, k) {
			return unknownField(k)
		}
	}
	return nil
}

// formOne returns the single value of a form field, trimmed.
func formOne(values map[string][]string, field string) (string, error) {
	vs := values[field]
	switch len(vs) {
	case 0:
		return "", fieldErr(labelStyle, field, "is required.")
	case 1:
		return strings.TrimSpace(vs[0]), nil
	}
	return "", fieldErr(labelStyle, field, "is given more than once.")
}

// maxEcho bounds how much of a user's input a message repeats.
const maxEcho = 40

// truncate shortens s to maxEcho runes, so a huge key cannot blow up a message.
func truncate(s string) string {
	n := 0
	for i := range s {
		if n == maxEcho {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// quote is truncate then strconv.Quote: safe to show, control characters escaped.
func quote(s string) string { return strconv.Quote(truncate(s)) }
