package stream

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/market"
)

// sseFrame is one event read back from Serve's output.
type sseFrame struct {
	id, event string
}

// parseFrames reads the events of an SSE byte stream (comments and retry lines skipped).
func parseFrames(s string) []sseFrame {
	var out []sseFrame
	for _, block := range strings.Split(s, "\n\n") {
		var f sseFrame
		for _, line := range strings.Split(block, "\n") {
			switch {
			case strings.HasPrefix(line, "id: "):
				f.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				f.event = line[7:]
			}
		}
		if f.event != "" {
			out = append(out, f)
		}
	}
	return out
}

// serveUntil runs Serve for c into a buffer until cond holds on the output, then closes c.
func serveUntil(t *testing.T, c *Conn, what string, cond func(string) bool) string {
	t.Helper()
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- Serve(out, c, ServeOptions{}) }()
	waitFor(t, what, func() bool { return cond(out.String()) })
	c.Close("test over")
	<-done
	return out.String()
}

// lonePublisher is a publisher with one user (one group) on a hand-moved clock.
func lonePublisher(t *testing.T, cfg Config) (*Publisher, *testClock) {
	t.Helper()
	p, _, conns := MustPublisher(t, 1, 1, FormatHTML)
	p.cfg.Hub.Unregister(conns[0])
	clock := newTestClock()
	cfg.Hub, cfg.Settings, cfg.Logger, cfg.Now = p.cfg.Hub, p.cfg.Settings, p.cfg.Logger, clock.Now
	return NewPublisher(cfg), clock
}

// attachWith opens a stream of user 1 with an optional Last-Event-ID.
func attachWith(t *testing.T, p *Publisher, f Format, queue int, last *EventID) *Conn {
	t.Helper()
	c := NewConn(1, "s", f, queue)
	if err := p.Attach(context.Background(), c, last); err != nil {
		t.Fatalf("attach: %v", err)
	}
	return c
}

// lastIDOf returns the id of the last frame c has queued, draining the queue.
func lastIDOf(t *testing.T, c *Conn) EventID {
	t.Helper()
	var last EventID
	for {
		select {
		case m := <-c.Messages():
			last = m.Frames[len(m.Frames)-1].ID
		default:
			if last.Seq == 0 {
				t.Fatal("nothing queued")
			}
			return last
		}
	}
}

// TestResumeLoneStreamLargerThanItsQueue: the only stream of a group leaves; the group
// keeps rendering; 40 emissions later (more than the 4-message queue holds) the reconnect
// gets every one of them, in order, each once, then live ones.
func TestResumeLoneStreamLargerThanItsQueue(t *testing.T) {
	for _, f := range []Format{FormatHTML, FormatJSON} {
		p, clock := lonePublisher(t, Config{})
		events := testenv.MustSampleEvents(t)
		ctx := context.Background()
		c := attachWith(t, p, f, 4, nil)
		p.Publish(ctx, Batch{Events: events[:10]})
		seen := lastIDOf(t, c)
		c.Close("client gone")
		p.cfg.Hub.Unregister(c)

		const missed = 40
		for i := 0; i < missed; i++ {
			clock.Add(time.Second)
			p.Publish(ctx, Batch{Events: events[i%len(events) : i%len(events)+1]})
		}
		r := attachWith(t, p, f, 4, &seen)
		if len(r.Messages()) != 0 {
			t.Fatal("the resume went through the live queue")
		}
		out := serveUntil(t, r, "the whole resume", func(s string) bool {
			fr := parseFrames(s)
			return len(fr) > 0 && strings.HasPrefix(fr[len(fr)-1].id, strconv.FormatUint(seen.Seq+missed, 10)+".")
		})
		prev, emissions := seen, 0
		for _, fr := range parseFrames(out) {
			id, ok := ParseEventID(fr.id)
			if !ok || !id.After(prev) || id.Seq > prev.Seq+1 {
				t.Fatalf("format %d: %s %q after %v: not the next event", f, fr.event, fr.id, prev)
			}
			if id.Seq != prev.Seq {
				emissions++
			}
			prev = id
		}
		if emissions != missed {
			t.Fatalf("format %d: resumed %d emissions, missed %d", f, emissions, missed)
		}
	}
}

// TestResumeBounds: what is kept is bounded by age, count and bytes; a request beyond
// them, or for an id never issued, or for a format the group did not keep, gets a reset
// instead of a silently shortened resume.
func TestResumeBounds(t *testing.T) {
	events := testenv.MustSampleEvents(t)
	for _, tc := range []struct {
		name   string
		cfg    Config
		step   time.Duration // clock step between emissions
		n      int           // emissions after the one seen
		format Format        // of the reconnect
		want   string        // "" for an exact resume, or the reset reason
	}{
		{"within every bound", Config{}, time.Second, 50, FormatHTML, ""},
		{"older than the window", Config{}, time.Second, 62, FormatHTML, ResetExpired},
		{"window counts from the last event seen", Config{}, 20 * time.Second, 3, FormatHTML, ""},
		{"more than the count bound", Config{ResumeMax: 10}, time.Second, 10, FormatHTML, ResetExpired},
		{"just within the count bound", Config{ResumeMax: 10}, time.Second, 9, FormatHTML, ""},
		{"more than the byte bound", Config{ResumeBytes: 4000}, time.Second, 8, FormatHTML, ResetExpired},
		{"a format the group did not keep", Config{}, time.Second, 3, FormatJSON, ResetUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, clock := lonePublisher(t, tc.cfg)
			ctx := context.Background()
			c := attachWith(t, p, FormatHTML, 64, nil)
			p.Publish(ctx, Batch{Events: events[:20]})
			seen := lastIDOf(t, c)
			c.Close("client gone")
			p.cfg.Hub.Unregister(c)
			for i := 0; i < tc.n; i++ {
				clock.Add(tc.step)
				p.Publish(ctx, Batch{Events: events[20+i%50 : 21+i%50]})
			}
			r := attachWith(t, p, tc.format, 4, &seen)
			first := parseFrames(string(r.backlog[0].Frames[0].Data))[0]
			if tc.want == "" {
				if first.event == EventReset || len(r.backlog) != tc.n {
					t.Fatalf("got %d messages starting with %+v, want the %d missed", len(r.backlog), first, tc.n)
				}
				return
			}
			data := string(r.backlog[0].Frames[0].Data)
			if first.event != EventReset || first.id != "" || !strings.Contains(data, "data: "+tc.want+"\n") {
				t.Fatalf("first frame %q, want a reset (%s) without an id", data, tc.want)
			}
			if m := p.Metrics(); m.Resets != 1 || m.Resumes != 1 {
				t.Fatalf("metrics %+v", m)
			}
		})
	}
	t.Run("an id never issued", func(t *testing.T) {
		p, _ := lonePublisher(t, Config{})
		c := attachWith(t, p, FormatHTML, 64, nil)
		p.Publish(context.Background(), Batch{Events: events[:20]})
		seen := lastIDOf(t, c)
		r := attachWith(t, p, FormatHTML, 4, &EventID{Seq: seen.Seq + 1, Part: 1})
		if f := parseFrames(string(r.backlog[0].Frames[0].Data)); f[0].event != EventReset ||
			!strings.Contains(string(r.backlog[0].Frames[0].Data), ResetUnknown) {
			t.Fatalf("a future id got %q", r.backlog[0].Frames[0].Data)
		}
		// A fresh start follows the reset: the group's recent emission.
		if len(r.backlog) != 2 || r.backlog[1].Seq != seen.Seq {
			t.Fatalf("after the reset: %d messages", len(r.backlog))
		}
	})
}

// TestResumeMidEmission: an id in the middle of an emission resumes with the rest of it.
func TestResumeMidEmission(t *testing.T) {
	p, _ := lonePublisher(t, Config{})
	c := attachWith(t, p, FormatHTML, 64, nil)
	p.Publish(context.Background(), Batch{Events: testenv.MustSampleEvents(t)})
	m := <-c.Messages()
	if len(m.Frames) < 3 {
		t.Fatalf("the sample should fill several panels: %d frames", len(m.Frames))
	}
	r := attachWith(t, p, FormatHTML, 4, &m.Frames[1].ID)
	if len(r.backlog) != 1 || len(r.backlog[0].Frames) != len(m.Frames)-2 || r.backlog[0].Frames[0].ID != m.Frames[2].ID {
		t.Fatalf("resume from %v sent %+v", m.Frames[1].ID, r.backlog)
	}
}

// TestUpstreamNumbering: a source that numbers emissions (the feed leader) gives the ids;
// gaps are kept, repeats skipped, and resume works on those numbers.
func TestUpstreamNumbering(t *testing.T) {
	p, _ := lonePublisher(t, Config{})
	ctx := context.Background()
	c := attachWith(t, p, FormatJSON, 64, nil)
	events := testenv.MustSampleEvents(t)
	p.Publish(ctx, Batch{Seq: 100, Events: events[:5]})
	p.Publish(ctx, Batch{Seq: 100, Events: events[5:10]}) // a repeat: skipped
	p.Publish(ctx, Batch{Seq: 99, Events: events[5:10]})  // older: skipped
	p.Publish(ctx, Batch{Seq: 105, Events: events[10:15]})
	var ids []string
	for len(c.Messages()) > 0 {
		ids = append(ids, (<-c.Messages()).Frames[0].ID.String())
	}
	if strings.Join(ids, " ") != "100.1 105.1" {
		t.Fatalf("ids %v, want 100.1 105.1", ids)
	}
	if m := p.Metrics(); m.Repeats != 2 || m.Emissions != 2 {
		t.Fatalf("metrics %+v", m)
	}
	r := attachWith(t, p, FormatJSON, 4, &EventID{Seq: 100, Part: 1})
	if len(r.backlog) != 1 || r.backlog[0].Seq != 105 {
		t.Fatalf("resume from 100.1 across the gap: %+v", r.backlog)
	}
}

// TestLocalNumberingOutlivesRestarts: local numbers start at the start time in Unix
// milliseconds, so an id from an earlier run is older than anything a new run keeps.
func TestLocalNumberingOutlivesRestarts(t *testing.T) {
	first, clock := lonePublisher(t, Config{})
	c := attachWith(t, first, FormatJSON, 64, nil)
	for i := 0; i < 5; i++ {
		first.Publish(context.Background(), Batch{})
		clock.Add(time.Second)
	}
	old := lastIDOf(t, c)

	clock.Add(2 * time.Second) // a restart
	second, _ := lonePublisher(t, Config{})
	second.cfg.Now = clock.Now
	c2 := attachWith(t, second, FormatJSON, 64, nil)
	second.Publish(context.Background(), Batch{})
	if id := lastIDOf(t, c2); id.Seq <= old.Seq {
		t.Fatalf("the new run's first id %v is not above the old run's last %v", id, old)
	}
	r := attachWith(t, second, FormatJSON, 4, &old)
	if len(r.backlog) == 0 || !strings.Contains(string(r.backlog[0].Frames[0].Data), "event: reset\ndata: expired") {
		t.Fatalf("an old run's id was not reset: %+v", r.backlog)
	}
}

// TestAttachNeverWaitsLongerThanItsContext: while an emission holds the lock, a new stream
// gives up when its request's deadline passes, answering unavailable.
func TestAttachNeverWaitsLongerThanItsContext(t *testing.T) {
	p, _, _ := MustPublisher(t, 1, 1, FormatHTML)
	p.Publish(context.Background(), Batch{})
	p.mu.Lock() // an emission that takes forever
	defer p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.Attach(ctx, NewConn(1, "s2", FormatHTML, 4), nil)
	if tickstock.ErrorCode(err) != tickstock.EUNAVAILABLE {
		t.Fatalf("attach under a held lock: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("attach waited %s past its 100 ms deadline", d)
	}
}

// TestLoneGroupIsKeptForTheWindow: a lone group keeps rendering for the resume window
// after its stream leaves, then is forgotten along with its user.
func TestLoneGroupIsKeptForTheWindow(t *testing.T) {
	p, clock := lonePublisher(t, Config{})
	c := attachWith(t, p, FormatHTML, 64, nil)
	p.Publish(context.Background(), Batch{Events: []market.Event{}})
	p.cfg.Hub.Unregister(c)
	for i := 0; i < 60; i++ {
		clock.Add(time.Second)
		p.Publish(context.Background(), Batch{})
		if p.UniqueGroups() != 1 {
			t.Fatalf("the group was dropped %d s after its stream left", i+1)
		}
	}
	clock.Add(2 * time.Second)
	p.Publish(context.Background(), Batch{})
	if p.UniqueGroups() != 0 || len(p.users) != 0 {
		t.Fatalf("%d groups and %d users kept past the window", p.UniqueGroups(), len(p.users))
	}
	if m := p.Metrics(); m.KeptEmissions > 62 {
		t.Fatalf("%d emissions kept", m.KeptEmissions)
	}
}

// TestAttachFollowsASettingsChange: a tab opened right after a settings change joins the
// new settings' group at once, not the remembered one, so it shows no history filtered by
// the old settings.
func TestAttachFollowsASettingsChange(t *testing.T) {
	p, _ := lonePublisher(t, Config{})
	attachWith(t, p, FormatHTML, 64, nil)
	p.Publish(context.Background(), Batch{Events: testenv.MustSampleEvents(t)})
	m := p.cfg.Settings.(*memSettings)
	us := m.users[1]
	us.Filters.Trends.Direction = "down"
	m.users[1] = us
	r := attachWith(t, p, FormatHTML, 4, nil)
	if len(r.backlog) != 0 {
		t.Fatalf("the new tab got %d emissions of the old settings' group", len(r.backlog))
	}
	if p.UniqueGroups() != 2 {
		t.Fatalf("%d groups, want the old one (kept for resume) and the new one", p.UniqueGroups())
	}
}
