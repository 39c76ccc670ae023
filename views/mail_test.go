package views

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestResetMailText: the plain-text body is plain text: no HTML escapes (a username with
// & and < reads as typed), no indentation, and the link alone on its line.
func TestResetMailText(t *testing.T) {
	link := "https://tickstock.example.com/auth/reset/abc_DEF-123"
	v := ResetMailView{Username: `Tom & <Jerry> "T"`, Link: link, Expires: time.Date(2025, 3, 14, 14, 30, 0, 0, time.UTC)}
	text, err := PlainText(context.Background(), ResetMailText(v))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(text, "\n")
	if lines[0] != `Hello Tom & <Jerry> "T",` {
		t.Fatalf("first line %q", lines[0])
	}
	found := false
	for _, l := range lines {
		if strings.HasPrefix(l, " ") {
			t.Fatalf("indented line %q in:\n%s", l, text)
		}
		found = found || l == link
	}
	if !found || !strings.Contains(text, "until 2025-03-14 14:30 UTC") || !strings.HasSuffix(text, "-- \nTickStock\n") {
		t.Fatalf("text mail:\n%s", text)
	}
	var html strings.Builder
	if err := ResetMailHTML(v).Render(context.Background(), &html); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), `href="`+link+`"`) || !strings.Contains(html.String(), "Tom &amp; &lt;Jerry&gt;") {
		t.Fatalf("HTML mail does not link or escape:\n%s", html.String())
	}
}
