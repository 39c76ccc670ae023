package views

import (
	"strings"

	"github.com/a-h/templ"
)

// Form fields with an error are marked for everyone: a red border (CSS on aria-invalid),
// aria-invalid for assistive technology, aria-describedby pointing at the message, and
// autofocus so the first one takes the focus, on a full page (no JavaScript needed) and
// after an htmx swap (htmx focuses [autofocus] in new content) alike.

// errorID is the id of a field's error message.
func errorID(field string) string {
	return "err-" + strings.NewReplacer(".", "-", "_", "-").Replace(field)
}

// invalid returns the attributes that mark field when errs holds a message for it.
func invalid(errs map[string]string, field string) templ.Attributes {
	if _, ok := errs[field]; !ok {
		return nil
	}
	return templ.Attributes{"aria-invalid": "true", "aria-describedby": errorID(field), "autofocus": true}
}

// invalidGroup marks one input of a group (radios, checkboxes) that shares one message:
// every input is invalid and described, only the first takes the focus.
func invalidGroup(errs map[string]string, field string, first bool) templ.Attributes {
	a := invalid(errs, field)
	if a != nil && !first {
		delete(a, "autofocus")
	}
	return a
}
