package audit

import (
	"encoding/json"
	"slices"
	"sort"
	"strconv"
)

// Change is one field that an action changed, for people: a value that went from Before to
// After, or a list that gained Added and lost Removed.
type Change struct {
	Field          string
	Before, After  string // "" when the field did not exist on that side
	Added, Removed []string
	List           bool // a list: read Added and Removed
}

// Changes compares Before and After field by field (nested objects by dotted path, lists of
// values as sets) and returns what differs, sorted by field. An entry whose sides cannot be
// read gives no changes rather than an error: the page still shows the raw JSON.
func (r Row) Changes() []Change {
	before, after := flatten(r.Before), flatten(r.After)
	fields := make([]string, 0, len(before)+len(after))
	for k := range before {
		fields = append(fields, k)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			fields = append(fields, k)
		}
	}
	sort.Strings(fields)
	var out []Change
	for _, f := range fields {
		b, inB := before[f]
		a, inA := after[f]
		bl, bList := b.([]any)
		al, aList := a.([]any)
		if (bList || !inB) && (aList || !inA) && (bList || aList) {
			added, removed := setDiff(strs(bl), strs(al))
			if len(added)+len(removed) > 0 {
				out = append(out, Change{Field: f, Added: added, Removed: removed, List: true})
			}
			continue
		}
		bs, as := show(b, inB), show(a, inA)
		if bs != as {
			out = append(out, Change{Field: f, Before: bs, After: as})
		}
	}
	return out
}

// flatten reads a JSON object into dotted paths → leaf values (lists stay lists).
func flatten(raw json.RawMessage) map[string]any {
	out := make(map[string]any)
	if len(raw) == 0 {
		return out
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return out
	}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok && (prefix == "" || len(m) > 0) {
			for k, sub := range m {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, sub)
			}
			return
		}
		if prefix != "" {
			out[prefix] = v
		}
	}
	walk("", v)
	return out
}

func strs(l []any) []string {
	out := make([]string, 0, len(l))
	for _, v := range l {
		out = append(out, show(v, true))
	}
	return out
}

// setDiff returns what after has that before lacks, and the reverse, each sorted.
func setDiff(before, after []string) (added, removed []string) {
	for _, a := range after {
		if !slices.Contains(before, a) && !slices.Contains(added, a) {
			added = append(added, a)
		}
	}
	for _, b := range before {
		if !slices.Contains(after, b) && !slices.Contains(removed, b) {
			removed = append(removed, b)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	return added, removed
}

// show renders a JSON leaf for people.
func show(v any, present bool) string {
	if !present {
		return ""
	}
	switch v := v.(type) {
	case nil:
		return "none"
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
