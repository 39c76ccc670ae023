package views

import (
	"context"
	"html"
	"strings"

	"github.com/a-h/templ"
)

// PlainText renders a plain-text mail component. templ writes HTML: it escapes text and
// folds each line break of the source into a space, so text components end their lines
// with { nl }; this undoes the escaping and the space that starts each following line.
func PlainText(ctx context.Context, c templ.Component) (string, error) {
	var b strings.Builder
	if err := c.Render(ctx, &b); err != nil {
		return "", err
	}
	return strings.ReplaceAll(html.UnescapeString(b.String()), "\n ", "\n"), nil
}
