package stream

import (
	"context"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/tickstock/tickstock/settings"
)

// framesOf returns the event names of the messages queued on c, draining the queue, and
// the data of its "settings" frames.
func framesOf(t *testing.T, c *Conn) (names []string, change []string) {
	t.Helper()
	for {
		select {
		case m := <-c.Messages():
			for _, f := range m.Frames {
				got := parseFrames(string(f.Data))
				if len(got) != 1 {
					t.Fatalf("frame holds %d events", len(got))
				}
				names = append(names, got[0].event)
				if got[0].event == EventSettings {
					if f.ID.Part != 0 || f.ID.Seq != m.Seq {
						t.Fatalf("settings frame id %s in emission %d, want %d.0", f.ID, m.Seq, m.Seq)
					}
					change = append(change, dataOf(string(f.Data)))
				}
			}
		default:
			return names, change
		}
	}
}

// dataOf joins an SSE frame's data lines.
func dataOf(frame string) string {
	var lines []string
	for _, line := range strings.Split(frame, "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			lines = append(lines, d)
		}
	}
	return strings.Join(lines, "\n")
}

// TestPublisherTellsPagesOfSettingsChanges: a stream whose user's settings change gets,
// with the next emission and before its rows, one "settings" event: a divider in every
// panel, new empty states, and (for a change of universes) the new header line. Streams
// of other users, JSON streams and later emissions get none.
func TestPublisherTellsPagesOfSettingsChanges(t *testing.T) {
	p, hub, conns := MustPublisher(t, 2, 1, FormatHTML) // users 1 and 2, equal settings
	for _, c := range conns {
		hub.Unregister(c)
	}
	m := p.cfg.Settings.(*memSettings)
	ctx := context.Background()
	attach := func(uid int64, f Format) *Conn {
		c := NewConn(uid, "s", f, 64)
		if err := p.Attach(ctx, c, nil); err != nil {
			t.Fatal(err)
		}
		return c
	}
	page, other, program := attach(1, FormatHTML), attach(2, FormatHTML), attach(1, FormatJSON)
	p.Publish(ctx, Batch{})
	for _, c := range []*Conn{page, other} {
		if _, change := framesOf(t, c); len(change) != 0 {
			t.Fatal("a settings event before any change")
		}
	}
	framesOf(t, program)

	// User 1 switches universes.
	us := m.users[1]
	us.Selections.HighLow = []string{"ENERGY"}
	m.users[1] = us
	p.Publish(ctx, Batch{})
	names, change := framesOf(t, page)
	if len(change) != 1 || names[0] != EventSettings {
		t.Fatalf("after a change of universes the page got %v, want the settings event first", names)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader("<table>" + change[0] + "</table>"))
	if err != nil {
		t.Fatal(err)
	}
	dividers := doc.Find("tbody[hx-swap-oob] tr.divider")
	if dividers.Length() != 6 || !strings.HasPrefix(dividers.First().Text(), "Universes changed at ") || !strings.HasSuffix(dividers.First().Text(), " ET") {
		t.Fatalf("dividers: %d, %q", dividers.Length(), dividers.First().Text())
	}
	if got, _ := doc.Find("tbody[hx-swap-oob]").Eq(4).Attr("hx-swap-oob"); got != "afterbegin:#surge-up" {
		t.Fatalf("fifth divider goes to %q", got)
	}
	if h := doc.Find(`#dash-universes[hx-swap-oob="outerHTML"]`).Text(); !strings.Contains(h, "Panels: ENERGY") {
		t.Fatalf("header line %q", h)
	}
	if e := doc.Find(`#empty-highs[hx-swap-oob]`).Text(); !strings.HasPrefix(e, "No new highs in ENERGY since ") {
		t.Fatalf("empty state %q", e)
	}
	for _, c := range []*Conn{other, program} {
		if _, change := framesOf(t, c); len(change) != 0 {
			t.Fatal("a settings event for a stream whose settings did not change")
		}
	}
	p.Publish(ctx, Batch{})
	if _, change := framesOf(t, page); len(change) != 0 {
		t.Fatal("the settings event came twice")
	}

	// A change of filters alone: a divider, no header.
	us.Filters.Trends.MinStrength = settings.StrengthStrong
	m.users[1] = us
	p.Publish(ctx, Batch{})
	_, change = framesOf(t, page)
	if len(change) != 1 || !strings.Contains(change[0], "Filters changed at ") || strings.Contains(change[0], "dash-universes") {
		t.Fatalf("after a change of filters: %q", change)
	}
	if !strings.Contains(change[0], "No strong uptrends in ENERGY since ") {
		t.Fatalf("the empty states do not follow the filters: %q", change[0])
	}

	// The display choice changes no group and sends nothing.
	us.Filters.Display.OneRowPerSymbol = true
	m.users[1] = us
	p.Publish(ctx, Batch{})
	if _, change = framesOf(t, page); len(change) != 0 {
		t.Fatal("a settings event for a change of display")
	}
}
