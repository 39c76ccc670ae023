package views

import (
	"context"
	"crypto/rand"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/a-h/templ"
)

// DashboardPages renders GET /dashboard from kept markup. Almost all of a dashboard page
// is the same for every load by users with the same universes, filters and role in the
// same minute: only the CSRF token, the username, the alert element (its data-since is
// the load's millisecond) and the market summary (SummaryCache) differ. So each such
// combination is rendered once, with marks where those four go, and later loads write the
// kept pieces around their own four. Loads bunch up when many browsers reload at once (a
// deploy, a restart, the market's open), and then each costs a few copies instead of a
// rendering. The output is byte for byte DashboardPage's (dashboard_pages_test.go checks
// it against random inputs). The zero value is ready; the handlers keep one for the app.
type DashboardPages struct {
	once  sync.Once
	mark  string // a random word that escaping leaves alone; no input can guess it
	mu    sync.RWMutex
	pages map[string]*pageSkeleton
}

// maxSkeletons bounds the kept pages; when full, the table starts again (keys carry the
// minute, so old ones are dead weight anyway).
const maxSkeletons = 512

// The holes of a skeleton, each marked in the rendering by mark followed by its letter.
const (
	holeCSRF    = 'c'
	holeUser    = 'u'
	holeAlerts  = 'a'
	holeSummary = 's'
)

// holeLetters are the letters a mark may be followed by.
const holeLetters = string(holeCSRF) + string(holeUser) + string(holeAlerts) + string(holeSummary)

// pageSkeleton is a rendered page cut at its holes: text[i] comes before hole[i], and the
// last text after the last hole.
type pageSkeleton struct {
	text []string
	hole []byte
}

// Page is DashboardPage(p, d), from a kept skeleton when one fits.
func (dp *DashboardPages) Page(p Page, d Dashboard) templ.Component {
	if d.Embed || d.Panels != nil || p.User == nil {
		return DashboardPage(p, d) // pages only; embeds go through DashboardBody
	}
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		dp.once.Do(dp.init)
		var buf [256]byte
		key := d.appendSkeletonKey(buf[:0], p)
		dp.mu.RLock()
		sk := dp.pages[string(key)]
		dp.mu.RUnlock()
		if sk == nil {
			var err error
			if sk, err = dp.build(ctx, p, d); err != nil {
				return err
			}
			if sk == nil { // the marks did not come out as written: never guess
				return DashboardPage(p, d).Render(ctx, w)
			}
			dp.mu.Lock()
			if len(dp.pages) >= maxSkeletons {
				clear(dp.pages)
			}
			dp.pages[string(key)] = sk
			dp.mu.Unlock()
		}
		return sk.write(ctx, w, p, d)
	})
}

// init draws the mark and makes the table, before the first page.
func (dp *DashboardPages) init() {
	dp.mark = "tsmark" + rand.Text() // base32: letters and digits, which escaping leaves alone
	dp.pages = make(map[string]*pageSkeleton)
}

// build renders d's page with marks in its holes and cuts it there; nil when a mark is not
// followed by a hole's letter.
func (dp *DashboardPages) build(ctx context.Context, p Page, d Dashboard) (*pageSkeleton, error) {
	p.CSRF = dp.mark + string(rune(holeCSRF))
	u := *p.User
	u.Username = dp.mark + string(rune(holeUser))
	p.User = &u
	d.holes = dp.mark
	var b strings.Builder
	if err := DashboardPage(p, d).Render(ctx, &b); err != nil {
		return nil, err
	}
	rest := b.String()
	sk := &pageSkeleton{}
	for {
		i := strings.Index(rest, dp.mark)
		if i < 0 || i+len(dp.mark) >= len(rest) {
			break
		}
		sk.text = append(sk.text, rest[:i])
		sk.hole = append(sk.hole, rest[i+len(dp.mark)])
		rest = rest[i+len(dp.mark)+1:]
	}
	sk.text = append(sk.text, rest)
	for _, h := range sk.hole {
		if !strings.ContainsRune(holeLetters, rune(h)) {
			return nil, nil
		}
	}
	return sk, nil
}

// write writes the skeleton with p's and d's own values in its holes.
func (sk *pageSkeleton) write(ctx context.Context, w io.Writer, p Page, d Dashboard) error {
	for i, h := range sk.hole {
		if _, err := io.WriteString(w, sk.text[i]); err != nil {
			return err
		}
		var err error
		switch h {
		case holeCSRF:
			_, err = io.WriteString(w, templ.EscapeString(p.CSRF))
		case holeUser:
			_, err = io.WriteString(w, templ.EscapeString(p.User.Username))
		case holeAlerts:
			err = AlertsConfig(d.Alerts).Render(ctx, w)
		case holeSummary:
			err = pageSummary(d.Summaries, d.Summary).Render(ctx, w)
		}
		if err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, sk.text[len(sk.text)-1])
	return err
}

// appendSkeletonKey appends to b everything a skeleton depends on: all of p and d but
// their holes. Every field of settings.Filters is in it (dashboard_pages_test.go checks
// that changing any field changes the key).
func (d Dashboard) appendSkeletonKey(b []byte, p Page) []byte {
	b = append(b, p.Title...)
	b = append(b, 0)
	b = append(b, p.User.Role...)
	b = append(b, 0)
	b = append(b, d.StreamURL...)
	b = append(b, 0)
	b = strconv.AppendInt(b, d.Since.Unix()/60, 10) // New York's offset is whole hours: the minute decides "since 09:31 ET"
	for _, names := range [2][]string{d.Highlow, d.Market} {
		b = append(b, 0)
		b = strconv.AppendBool(b, names == nil)
		for _, n := range names {
			b = append(b, 1)
			b = append(b, n...)
		}
	}
	f := d.Filters
	b = append(b, 0)
	b = strconv.AppendInt(b, f.HighLow.MinCount, 10)
	b = append(b, 1)
	b = strconv.AppendInt(b, f.HighLow.MinVolume, 10)
	b = append(b, 1)
	b = append(b, f.Trends.MinStrength...)
	b = append(b, 1)
	b = append(b, f.Trends.Direction...)
	b = append(b, 1)
	b = append(b, f.Surges.MinStrength...)
	b = append(b, 1)
	b = append(b, f.Surges.Trigger...)
	b = append(b, 1)
	b = strconv.AppendBool(b, f.Surges.PriceRanges == nil)
	for _, r := range f.Surges.PriceRanges {
		b = append(b, 2)
		b = append(b, r...)
	}
	b = append(b, 1)
	b = strconv.AppendBool(b, f.Alerts.Enabled)
	b = strconv.AppendBool(b, f.Alerts.Sound)
	b = strconv.AppendBool(b, f.Alerts.Notify)
	b = strconv.AppendBool(b, f.Display.OneRowPerSymbol)
	return b
}

// alertsPart is the page's alert element, or its mark while a skeleton is rendered.
func (d Dashboard) alertsPart() templ.Component {
	if d.holes != "" {
		return templ.Raw(d.holes + string(rune(holeAlerts)))
	}
	return AlertsConfig(d.Alerts)
}

// summaryPart is the page's market summary, or its mark while a skeleton is rendered.
func (d Dashboard) summaryPart() templ.Component {
	if d.holes != "" {
		return templ.Raw(d.holes + string(rune(holeSummary)))
	}
	return pageSummary(d.Summaries, d.Summary)
}
