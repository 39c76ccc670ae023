package handlers

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/internal/faultproxy"
	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/stream"
)

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	ID, Event, Data string
}

// sseStream reads a live /stream response in the background.
type sseStream struct {
	resp   *http.Response
	events chan sseEvent
	done   chan struct{} // closed when the server ends the stream
	cancel context.CancelFunc
}

// openStream opens GET path with the client's cookies and extra headers.
func (c *client) openStream(path string, header ...string) (*sseStream, *http.Response) {
	c.tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		c.tb.Fatal(err)
	}
	for k, v := range pairs(header) {
		req.Header.Set(k, v)
	}
	hc := &http.Client{Jar: c.http.Jar} // no timeout: the body stays open
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		c.tb.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, resp
	}
	s := &sseStream{resp: resp, events: make(chan sseEvent, 4096), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<22)
		var ev sseEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Event != "" || len(data) > 0 {
					ev.Data = strings.Join(data, "\n")
					s.events <- ev
				}
				ev, data = sseEvent{}, nil
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Event = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = append(data, line[6:])
			}
		}
	}()
	c.tb.Cleanup(s.close)
	return s, resp
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next event named one of names, skipping others, within d.
func (s *sseStream) next(tb testing.TB, d time.Duration, names ...string) sseEvent {
	tb.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-s.events:
			for _, n := range names {
				if ev.Event == n {
					return ev
				}
			}
		case <-s.done:
			// drain what arrived before the end
			select {
			case ev := <-s.events:
				for _, n := range names {
					if ev.Event == n {
						return ev
					}
				}
				continue
			default:
			}
			tb.Fatalf("stream ended while waiting for %v", names)
		case <-deadline:
			tb.Fatalf("no %v event within %s", names, d)
		}
	}
}

// emitInChunks publishes events as several emissions, as the ticker would.
func (a *testApp) emitInChunks(tb testing.TB, events []market.Event, size int) int {
	tb.Helper()
	n := 0
	for i := 0; i < len(events); i += size {
		a.emit(tb, events[i:min(i+size, len(events))]...)
		n++
	}
	return n
}

// eventKey identifies an event in comparisons.
func eventKey(e market.Event) string {
	b, _ := json.Marshal(e)
	return string(b)
}

func TestStreamDeliversEachUsersEvents(t *testing.T) {
	app := MustApp(t)
	_, pwA := app.MustUser(t, "alice@example.com", "alice")
	_, pwB := app.MustUser(t, "bob@example.com", "bobby")
	a, b := app.NewClient(t), app.NewClient(t)
	a.login("alice@example.com", pwA)
	b.login("bob@example.com", pwB)

	// Alice: tech stocks, strong trends only. Bob: the default universe, highs and lows
	// from the 5th of the day, trends of any strength but only down, price+volume surges.
	if r := a.postJSON("/api/user/universe-selections", `{"tracker":"highlow","universes":["TECH_UNIVERSE"]}`); r.StatusCode != 200 {
		t.Fatalf("alice selection: %d %s", r.StatusCode, r.Body)
	}
	if r := a.postJSON("/api/user-filters", `{"filter_data":{"trends":{"min_strength":"strong"}}}`); r.StatusCode != 200 {
		t.Fatalf("alice filters: %d %s", r.StatusCode, r.Body)
	}
	if r := b.postJSON("/api/user-filters", `{"filter_data":{"highlow":{"min_count":5},"trends":{"min_strength":"weak","direction":"down"},"surges":{"trigger":"price_and_volume"}}}`); r.StatusCode != 200 {
		t.Fatalf("bob filters: %d %s", r.StatusCode, r.Body)
	}

	sa, _ := a.openStream("/stream?format=json")
	sb, _ := b.openStream("/stream?format=json")
	waitConns(t, app, 2)

	events := testenv.MustSampleEvents(t)
	emissions := app.emitInChunks(t, events, 40)

	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		email string
		s     *sseStream
	}{{"alice", "alice@example.com", sa}, {"bob", "bob@example.com", sb}} {
		t.Run(tc.name, func(t *testing.T) {
			u := mustUserByEmail(t, app, tc.email)
			us, err := app.deps.Settings.Get(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			set, err := app.deps.Settings.SymbolSet(ctx, us.Selections.HighLow)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, e := range events {
				if settings.Shows(e, us.Filters, set) {
					want = append(want, eventKey(e))
				}
			}
			var got []string
			for i := 0; i < emissions; i++ {
				ev := tc.s.next(t, 5*time.Second, stream.EventJSON)
				var em struct {
					EmittedAt int64                                  `json:"emitted_at"`
					Highs     []market.HighLowEvent                  `json:"highs"`
					Lows      []market.HighLowEvent                  `json:"lows"`
					Trending  struct{ Up, Down []market.TrendEvent } `json:"trending"`
					Surging   struct{ Up, Down []market.SurgeEvent } `json:"surging"`
					Market    map[string]any                         `json:"market"`
				}
				if err := json.Unmarshal([]byte(ev.Data), &em); err != nil {
					t.Fatalf("emission %d: %v", i, err)
				}
				for _, key := range []string{`"highs":[`, `"lows":[`, `"up":[`, `"down":[`, `"market":{`} {
					if !strings.Contains(ev.Data, key) {
						t.Fatalf("emission lacks %s (null list?): %s", key, ev.Data)
					}
				}
				// Rebuild the engine's order: the publisher keeps detection order per list.
				var batch []market.Event
				for _, h := range em.Highs {
					batch = append(batch, market.Event{Kind: market.KindHigh, HighLow: h})
				}
				for _, l := range em.Lows {
					batch = append(batch, market.Event{Kind: market.KindLow, HighLow: l})
				}
				for _, tr := range append(em.Trending.Up, em.Trending.Down...) {
					batch = append(batch, market.Event{Kind: market.KindTrend, Trend: tr})
				}
				for _, s := range append(em.Surging.Up, em.Surging.Down...) {
					batch = append(batch, market.Event{Kind: market.KindSurge, Surge: s})
				}
				for _, e := range batch {
					got = append(got, eventKey(e))
				}
			}
			if len(got) != len(want) || !sameMultiset(got, want) {
				t.Fatalf("%s got %d events, want %d (the engine's events her settings allow)", tc.name, len(got), len(want))
			}
			if len(want) == 0 {
				t.Fatalf("%s's settings allow nothing: the test proves nothing", tc.name)
			}
		})
	}
}

func sameMultiset(a, b []string) bool {
	count := map[string]int{}
	for _, s := range a {
		count[s]++
	}
	for _, s := range b {
		count[s]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

func mustUserByEmail(t *testing.T, app *testApp, email string) db.User {
	t.Helper()
	var u db.User
	err := db.WithSystem(context.Background(), app.pool, func(q *db.Queries) error {
		var err error
		u, err = q.GetUserByEmail(context.Background(), email)
		return err
	})
	if err != nil {
		t.Fatalf("find %s: %v", email, err)
	}
	return u
}

// waitConns waits until the hub holds n connections.
func waitConns(t *testing.T, app *testApp, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d open connections", n), func() bool {
		_, c := app.deps.Hub.Counts()
		return c == n
	})
}

func TestStreamTabsGetSameData(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "tabs@example.com", "tabber")
	c := app.NewClient(t)
	c.login("tabs@example.com", pw)
	s1, _ := c.openStream("/stream")
	s2, _ := c.openStream("/stream")
	waitConns(t, app, 2)
	events := testenv.MustSampleEvents(t)
	app.emit(t, events[:60]...)
	for _, name := range []string{stream.EventHighs, stream.EventMarket} {
		e1 := s1.next(t, 5*time.Second, name)
		e2 := s2.next(t, 5*time.Second, name)
		if e1 != e2 || e1.ID == "" {
			t.Fatalf("tabs differ on %s:\n%+v\n%+v", name, e1, e2)
		}
		if name == stream.EventHighs && !strings.Contains(e1.Data, `<tr data-symbol="`) {
			t.Fatalf("highs fragment has no rows: %s", e1.Data)
		}
	}
}

// TestStreamEndsWithSession: logout ends the session's streams. The stream's request was
// answered when the stream started, and fasthttp reuses that request's buffers for the
// next requests, so other requests go through them first: nothing the stream keeps (its
// session id, in the hub and the session store) may point into them.
func TestStreamEndsWithSession(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "bye@example.com", "byebye")
	c := app.NewClient(t)
	c.login("bye@example.com", pw)
	s, _ := c.openStream("/stream")
	waitConns(t, app, 1)

	other := app.NewClient(t)
	fake := strings.Repeat("x", len(c.cookie(auth.CookieName).Value))
	for range 64 {
		if r := other.get("/healthz", "Cookie", auth.CookieName+"="+fake); r.StatusCode != http.StatusOK {
			t.Fatalf("healthz: %d", r.StatusCode)
		}
	}
	if ids := app.deps.Hub.SessionIDs(); len(ids) != 1 || ids[0] != c.cookie(auth.CookieName).Value {
		t.Fatalf("the hub holds the stream under session %q, want %q", ids, c.cookie(auth.CookieName).Value)
	}
	if r := c.get("/api/user-filters"); r.StatusCode != http.StatusOK {
		t.Fatalf("the stream's session was lost: %d", r.StatusCode)
	}

	start := time.Now()
	if r := c.postForm("/auth/logout", map[string][]string{}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	s.next(t, 5*time.Second, "logout")
	select {
	case <-s.done:
	case <-time.After(5*time.Second - time.Since(start)):
		t.Fatal("the other tab's stream stayed open more than 5 s after logout")
	}
	waitConns(t, app, 0)
}

func TestStreamResume(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "resume@example.com", "resumer")
	c := app.NewClient(t)
	c.login("resume@example.com", pw)
	s, _ := c.openStream("/stream")
	waitConns(t, app, 1)
	events := testenv.MustSampleEvents(t)
	app.emit(t, events[0:40]...)
	first := s.next(t, 5*time.Second, stream.EventHighs, stream.EventLows, stream.EventTrending, stream.EventSurging)
	firstID, _ := stream.ParseEventID(first.ID)
	s.close() // the server notices at its next write; resume does not depend on it

	// Missed while away: the rest of emission 1 and all of emissions 2 and 3.
	app.emit(t, events[40:80]...)
	app.emit(t, events[80:120]...)

	r, _ := c.openStream("/stream", "Last-Event-ID", first.ID)
	var ids []stream.EventID
	deadline := time.After(5 * time.Second)
loop:
	for {
		select {
		case ev := <-r.events:
			id, ok := stream.ParseEventID(ev.ID)
			if !ok {
				t.Fatalf("resumed event %s without a valid id %q", ev.Event, ev.ID)
			}
			ids = append(ids, id)
			if id.Seq == firstID.Seq+2 && ev.Event == stream.EventMarket {
				break loop
			}
		case <-deadline:
			break loop
		}
	}
	if len(ids) == 0 {
		t.Fatal("resume sent nothing")
	}
	prev := firstID
	seqs := map[uint64]bool{}
	for _, id := range ids {
		if !id.After(prev) {
			t.Fatalf("resume out of order or repeated: %v after %v (last seen %s)", id, prev, first.ID)
		}
		prev = id
		seqs[id.Seq] = true
	}
	if ids[0] != (stream.EventID{Seq: firstID.Seq, Part: firstID.Part + 1}) {
		t.Fatalf("resume did not start right after %s: %v", first.ID, ids[0])
	}
	if len(seqs) != 3 || !seqs[firstID.Seq+1] || !seqs[firstID.Seq+2] {
		t.Fatalf("resume did not cover the rest of emission 1 and emissions 2 and 3: %v", ids)
	}
}

// TestStreamLoneTabResumes is SPEC section 7's lone tab: its stream is the only one of its
// settings group, it goes away, the server notices and closes it, emissions go on, and the
// reconnect with Last-Event-ID gets exactly the emissions it missed, in order, once.
func TestStreamLoneTabResumes(t *testing.T) {
	for _, tc := range []struct {
		name, query, last string
	}{{"html", "", stream.EventMarket}, {"json", "?format=json", stream.EventJSON}} {
		t.Run(tc.name, func(t *testing.T) {
			app := MustApp(t)
			_, pw := app.MustUser(t, "lone-"+tc.name+"@example.com", "lone"+tc.name)
			c := app.NewClient(t)
			c.login("lone-"+tc.name+"@example.com", pw)
			events := testenv.MustSampleEvents(t)
			var chunks [][]market.Event
			for i, n := 0, len(events)/5; i < 5; i++ {
				chunks = append(chunks, events[i*n:(i+1)*n])
			}

			s, _ := c.openStream("/stream" + tc.query)
			waitConns(t, app, 1)
			app.emit(t, chunks[0]...)
			seen := s.next(t, 5*time.Second, tc.last) // the end of emission 1
			seenID, _ := stream.ParseEventID(seen.ID)
			s.close()

			// The server learns that the client went away at its next writes; emissions that
			// go out meanwhile are missed too. Then three emissions with no stream at all.
			missed := 0
			for deadline := time.Now().Add(10 * time.Second); ; {
				if _, n := app.deps.Hub.Counts(); n == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the server never noticed the closed stream")
				}
				app.emit(t)
				missed++
				time.Sleep(50 * time.Millisecond)
			}
			for _, ch := range chunks[1:4] {
				app.emit(t, ch...)
				missed++
			}

			r, _ := c.openStream("/stream"+tc.query, "Last-Event-ID", seen.ID)
			var got []sseEvent
			for want := seenID.Seq + uint64(missed); ; {
				ev := r.next(t, 5*time.Second, stream.EventHighs, stream.EventLows, stream.EventTrending,
					stream.EventSurging, stream.EventMarket, stream.EventJSON, stream.EventReset)
				if ev.Event == stream.EventReset {
					t.Fatalf("the resume was refused with a reset (%q) after %d events", ev.Data, len(got))
				}
				got = append(got, ev)
				if id, _ := stream.ParseEventID(ev.ID); id.Seq == want && ev.Event == tc.last {
					break
				}
			}
			// Exactly the missed emissions, whole, in order: seq+1 … seq+missed, each ending
			// with its last event, and the three with events carry the rows they should.
			prev, emissions := seenID, 0
			rows := map[uint64]int{}
			for _, ev := range got {
				id, ok := stream.ParseEventID(ev.ID)
				if !ok || !id.After(prev) || (id.Seq != prev.Seq && id.Seq != prev.Seq+1) {
					t.Fatalf("resumed %s %q after %v: not the next event", ev.Event, ev.ID, prev)
				}
				if id.Seq != prev.Seq && id.Part != 1 {
					t.Fatalf("emission %d starts at part %d", id.Seq, id.Part)
				}
				prev = id
				if ev.Event == tc.last {
					emissions++
				}
				rows[id.Seq] += strings.Count(ev.Data, `<tr data-symbol="`) + strings.Count(ev.Data, `"symbol":`)
			}
			if emissions != missed {
				t.Fatalf("resume brought %d emissions, missed %d", emissions, missed)
			}
			for k := 1; k <= 3; k++ {
				if seq := seenID.Seq + uint64(missed-3+k); rows[seq] == 0 {
					t.Fatalf("missed emission %d (chunk %d) came without its rows", seq, k)
				}
			}
			// Live emissions follow, with nothing repeated.
			app.emit(t, chunks[4]...)
			ev := r.next(t, 5*time.Second, stream.EventHighs, stream.EventLows, stream.EventTrending,
				stream.EventSurging, stream.EventMarket, stream.EventJSON)
			if id, _ := stream.ParseEventID(ev.ID); id != (stream.EventID{Seq: prev.Seq + 1, Part: 1}) {
				t.Fatalf("first live event after the resume is %s, want %d.1", ev.ID, prev.Seq+1)
			}
		})
	}
}

// TestStreamResumeTooOldResets: an id the server no longer keeps (or never issued) gets a
// "reset" event, then the stream starts afresh; it is never silently cut short.
func TestStreamResumeTooOldResets(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "reset@example.com", "resetter")
	c := app.NewClient(t)
	c.login("reset@example.com", pw)
	s, _ := c.openStream("/stream")
	waitConns(t, app, 1)
	app.emit(t, testenv.MustSampleEvents(t)[:40]...)
	seen := s.next(t, 5*time.Second, stream.EventMarket)
	seenID, _ := stream.ParseEventID(seen.ID)

	for _, tc := range []struct{ name, id, reason string }{
		{"older than kept", fmt.Sprintf("%d.5", seenID.Seq-1), stream.ResetExpired},
		{"never issued", fmt.Sprintf("%d.1", seenID.Seq+1000), stream.ResetUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := c.openStream("/stream", "Last-Event-ID", tc.id)
			ev := r.next(t, 5*time.Second, stream.EventReset, stream.EventMarket)
			if ev.Event != stream.EventReset || ev.Data != tc.reason || ev.ID != "" {
				t.Fatalf("first event %+v, want reset %q without an id", ev, tc.reason)
			}
			// A fresh start follows: the group's recent emission, as on a new tab.
			if ev := r.next(t, 5*time.Second, stream.EventMarket); ev.ID != seen.ID {
				t.Fatalf("after the reset came %s, want the recent emission %s", ev.ID, seen.ID)
			}
		})
	}
}

func TestStreamSlowClientIsDropped(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "fast@example.com", "fastone")
	_, pw2 := app.MustUser(t, "slow@example.com", "slowone")
	fast := app.NewClient(t)
	fast.login("fast@example.com", pw)
	slow := app.NewClient(t)
	slow.login("slow@example.com", pw2)

	// The slow client opens a stream on a raw socket and never reads from it.
	conn, err := net.Dial("tcp", strings.TrimPrefix(app.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.SetReadBuffer(4096)
	}
	ck := slow.cookie("tickstock_session")
	fmt.Fprintf(conn, "GET /stream HTTP/1.1\r\nHost: %s\r\nCookie: %s=%s\r\n\r\n", strings.TrimPrefix(app.URL, "http://"), ck.Name, ck.Value)
	fs, _ := fast.openStream("/stream?format=json")
	waitConns(t, app, 2)

	events := testenv.MustSampleEvents(t)
	var big []market.Event
	for len(big) < 400 {
		big = append(big, events...)
	}
	big = big[:400]
	const rounds = 150
	for i := 0; i < rounds; i++ {
		start := time.Now()
		app.emit(t, big...)
		// A publisher that waited on the slow socket would stall until the write deadline
		// cut it (10 s) on every emission; a busy machine's slowness stays well below that.
		if d := time.Since(start); d > 8*time.Second {
			t.Fatalf("emission %d took %s: the publisher waited on a socket", i, d)
		}
		fs.next(t, 5*time.Second, stream.EventJSON) // the fast client keeps up, every time
	}
	waitConns(t, app, 1)
	if m := app.deps.Publisher.Metrics(); m.DroppedMessages == 0 {
		t.Fatal("the slow client lost nothing, yet was dropped?")
	}
}

func TestStreamAccess(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "many@example.com", "manytabs")
	anon := app.NewClient(t)
	if _, r := anon.openStream("/stream"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("stream without a session: %d", r.StatusCode)
	}
	c := app.NewClient(t)
	c.login("many@example.com", pw)
	if _, r := c.openStream("/stream", "Origin", "https://evil.example"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("stream from a foreign origin: %d", r.StatusCode)
	}
	if _, r := c.openStream("/stream?format=xml"); r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("unknown format: %d", r.StatusCode)
	}
	for i := 0; i < stream.MaxStreamsPerUser; i++ {
		s, r := c.openStream("/stream", "Origin", app.URL)
		if s == nil {
			t.Fatalf("stream %d: %d", i+1, r.StatusCode)
		}
		if r.Header.Get("Content-Type") != "text/event-stream" || r.Header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("stream headers: %v", r.Header)
		}
	}
	waitConns(t, app, stream.MaxStreamsPerUser)
	if _, r := c.openStream("/stream"); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("9th stream: %d, want 429", r.StatusCode)
	}
	waitAuthEvent(t, app, "stream_unauthorized")
}

// TestDisablingEndsEverySessionAndStream: disabling a user (through the account service,
// until the admin pages exist) ends every session of theirs in every browser, and every
// stream with `event: logout` / "disabled", within 5 s; other users keep theirs. Memory and
// Redis sessions alike.
func TestDisablingEndsEverySessionAndStream(t *testing.T) {
	rdb, prefix := testenv.MustRedis(t)
	for name, opts := range map[string][]appOption{"memory": nil, "redis": {withRedis(rdb, prefix)}} {
		t.Run(name, func(t *testing.T) {
			app := MustApp(t, opts...)
			u, pw := app.MustUser(t, "everywhere@example.com", "everywhere")
			_, pw2 := app.MustUser(t, "bystander@example.com", "bystander")
			laptop, phone, tablet, other := app.NewClient(t), app.NewClient(t), app.NewClient(t), app.NewClient(t)
			for _, c := range []*client{laptop, phone, tablet} {
				c.login("everywhere@example.com", pw)
			}
			other.login("bystander@example.com", pw2)
			s1, _ := laptop.openStream("/stream")
			s2, _ := phone.openStream("/stream")
			s3, _ := phone.openStream("/stream?format=json")
			s4, _ := other.openStream("/stream")
			waitConns(t, app, 4)

			start := time.Now()
			if _, err := app.deps.Accounts.Disable(context.Background(), u.Handle); err != nil {
				t.Fatalf("Disable: %v", err)
			}
			for _, s := range []*sseStream{s1, s2, s3} {
				if ev := s.next(t, 5*time.Second, "logout"); ev.Data != "disabled" || ev.ID != "" {
					t.Fatalf("logout event %+v, want data \"disabled\" and no id", ev)
				}
				select {
				case <-s.done:
				case <-time.After(5*time.Second - time.Since(start)):
					t.Fatal("a stream stayed open more than 5 s after the user was disabled")
				}
			}
			waitConns(t, app, 1)
			for _, c := range []*client{laptop, phone, tablet} {
				if r := c.get("/dashboard"); r.StatusCode != http.StatusSeeOther {
					t.Fatalf("a session survived disabling: %d", r.StatusCode)
				}
			}
			if r := other.get("/dashboard"); r.StatusCode != 200 {
				t.Fatalf("another user's session ended: %d", r.StatusCode)
			}
			app.emit(t, testenv.MustSampleEvents(t)[:10]...)
			s4.next(t, 5*time.Second, stream.EventMarket)
			// Signed out for good: the right password is refused.
			r := laptop.postForm("/auth/login", url.Values{"email": {"everywhere@example.com"}, "password": {pw}})
			if r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("login of a disabled user: %d", r.StatusCode)
			}
		})
	}
}

// TestSigningInAgainEndsTheOldStream: a browser that signs in again (same user or another)
// replaces its session, and the replaced session's streams end with `event: logout`.
func TestSigningInAgainEndsTheOldStream(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "again@example.com", "againuser")
	c := app.NewClient(t)
	c.login("again@example.com", pw)
	old := c.cookie(auth.CookieName).Value
	s, _ := c.openStream("/stream")
	waitConns(t, app, 1)

	r := c.postForm("/auth/login", url.Values{"email": {"again@example.com"}, "password": {pw}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("second login: %d", r.StatusCode)
	}
	if ev := s.next(t, 5*time.Second, "logout"); ev.Data != "logout" {
		t.Fatalf("the old stream ended with %+v", ev)
	}
	waitConns(t, app, 0)
	if now := c.cookie(auth.CookieName).Value; now == old {
		t.Fatal("signing in again kept the session id")
	}
	if st, _ := app.deps.Sessions.Peek(context.Background(), old); st != nil {
		t.Fatal("the replaced session still exists")
	}
	// The new session streams as usual.
	c.get("/dashboard")
	if s2, r := c.openStream("/stream"); s2 == nil {
		t.Fatalf("stream after signing in again: %d", r.StatusCode)
	}
}

// TestStreamOpensWithRecentHistory: a new dashboard tab starts with the group's recent
// emissions, so panels are not blank; a JSON stream starts live.
func TestStreamOpensWithRecentHistory(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "history@example.com", "historian")
	c := app.NewClient(t)
	c.login("history@example.com", pw)
	tab, _ := c.openStream("/stream") // the first tab keeps the group's emissions rendered
	waitConns(t, app, 1)
	events := testenv.MustSampleEvents(t)
	app.emit(t, events[:40]...)
	app.emit(t, events[40:80]...)
	one, _ := stream.ParseEventID(tab.next(t, 5*time.Second, stream.EventMarket).ID)

	html, _ := c.openStream("/stream")
	first := html.next(t, 5*time.Second, stream.EventHighs, stream.EventLows, stream.EventTrending, stream.EventSurging, stream.EventMarket)
	if id, _ := stream.ParseEventID(first.ID); id != (stream.EventID{Seq: one.Seq, Part: 1}) {
		t.Fatalf("a new tab's first event is %s, want the history from emission %d", first.ID, one.Seq)
	}
	jsonStream, _ := c.openStream("/stream?format=json")
	waitConns(t, app, 3)
	app.emit(t, events[80:120]...)
	got := jsonStream.next(t, 5*time.Second, stream.EventJSON)
	if want := fmt.Sprintf("%d.1", one.Seq+2); got.ID != want {
		t.Fatalf("the JSON stream's first event is %s, want the live emission %s", got.ID, want)
	}
}

// TestResyncEndsStreamsOfLostSessions: after a resync (this instance's bus connection came
// back, so it may have missed session ends), streams whose session is gone from the store
// end with logout; streams of live sessions go on.
func TestResyncEndsStreamsOfLostSessions(t *testing.T) {
	rdb, prefix := testenv.MustRedis(t)
	app := MustApp(t, withRedis(rdb, prefix))
	_, pw1 := app.MustUser(t, "kept@example.com", "kept")
	_, pw2 := app.MustUser(t, "lost@example.com", "lost")
	kept, lost := app.NewClient(t), app.NewClient(t)
	kept.login("kept@example.com", pw1)
	lost.login("lost@example.com", pw2)
	sk, _ := kept.openStream("/stream")
	sl, _ := lost.openStream("/stream")
	waitConns(t, app, 2)

	// The session vanishes behind this instance's back (another instance revoked it and
	// the message was missed, or Redis lost it).
	ctx := context.Background()
	sid := lost.cookie(auth.CookieName).Value
	if n, err := rdb.Del(ctx, prefix+"sess:"+sid).Result(); err != nil || n != 1 {
		t.Fatalf("delete the session from Redis: %d %v", n, err)
	}
	if err := app.deps.Bus.Publish(ctx, bus.Resync{}); err != nil {
		t.Fatal(err)
	}
	if ev := sl.next(t, 5*time.Second, "logout"); ev.Data != bus.ReasonExpired {
		t.Fatalf("logout reason %q", ev.Data)
	}
	waitConns(t, app, 1)
	app.emit(t, testenv.MustSampleEvents(t)[:20]...)
	sk.next(t, 5*time.Second, stream.EventMarket)
}

// TestResyncRetriesWhileTheStoreRefuses: the resync comes while the session store still
// refuses (Redis is back for the bus, but not yet for the store's connection pool), and no
// later resync comes. The check is tried again, so the stream of a lost session still ends
// with logout once the store answers.
func TestResyncRetriesWhileTheStoreRefuses(t *testing.T) {
	direct, prefix := testenv.MustRedis(t)
	proxy := faultproxy.MustStart(t, testenv.MustHostPort(t, testenv.RedisURL()))
	opts, err := redis.ParseURL(testenv.WithHostPort(t, testenv.RedisURL(), proxy.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = time.Second, time.Second, time.Second
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	app := MustApp(t, withRedis(rdb, prefix))
	_, pw := app.MustUser(t, "lost@example.com", "lost")
	c := app.NewClient(t)
	c.login("lost@example.com", pw)
	s, _ := c.openStream("/stream")
	waitConns(t, app, 1)

	ctx := context.Background()
	if n, err := direct.Del(ctx, prefix+"sess:"+c.cookie(auth.CookieName).Value).Result(); err != nil || n != 1 {
		t.Fatalf("delete the session from Redis: %d %v", n, err)
	}
	proxy.Down()
	if err := app.deps.Bus.Publish(ctx, bus.Resync{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // the first checks fail
	if _, n := app.deps.Hub.Counts(); n != 1 {
		t.Fatalf("%d streams open while the store refused, want the stream kept until it can be checked", n)
	}
	proxy.Up()
	if ev := s.next(t, 10*time.Second, "logout"); ev.Data != bus.ReasonExpired {
		t.Fatalf("logout reason %q", ev.Data)
	}
	waitConns(t, app, 0)
}
