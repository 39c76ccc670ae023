package stream

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tickstock/tickstock/internal/testenv"
)

// instances are two publishers fed the same upstream emissions, as two instances reading
// the feed leader's stream are. Only a holds streams; b renders nothing until a stream
// resumes on it.
type instances struct {
	a, b    *Publisher
	clock   *testClock
	batches []Batch // every upstream emission so far, as History serves them
}

func newInstances(t *testing.T, history func(inst *instances) History) *instances {
	t.Helper()
	inst := &instances{}
	a, clock := lonePublisher(t, Config{})
	inst.a, inst.clock = a, clock
	p, _, conns := MustPublisher(t, 1, 1, FormatHTML)
	p.cfg.Hub.Unregister(conns[0])
	var h History
	if history != nil {
		h = history(inst)
	}
	inst.b = NewPublisher(Config{Hub: NewHub(0), Settings: p.cfg.Settings, Logger: p.cfg.Logger, Now: clock.Now, History: h})
	return inst
}

// fromSlice serves History from the instances' upstream emissions.
func fromSlice(inst *instances) History {
	return func(_ context.Context, from uint64) ([]Batch, error) {
		var out []Batch
		for _, b := range inst.batches {
			if b.Seq >= from {
				out = append(out, b)
			}
		}
		return out, nil
	}
}

// publish makes the next upstream emission on both instances, a second after the last.
func (inst *instances) publish(b Batch) {
	inst.clock.Add(time.Second)
	b.Seq = 1_750_000_000_000 + uint64(len(inst.batches))
	b.At = inst.clock.Now().Add(-3 * time.Millisecond) // the leader's stamp, a trip ago
	inst.batches = append(inst.batches, b)
	inst.a.Publish(context.Background(), b)
	inst.b.Publish(context.Background(), b)
}

// drain returns the messages queued on c.
func drain(c *Conn) []*Message {
	var out []*Message
	for {
		select {
		case m := <-c.Messages():
			out = append(out, m)
		default:
			return out
		}
	}
}

// TestResumeOnAnotherInstance: a stream on instance A leaves after some emission and
// reconnects to instance B with its Last-Event-ID. B never rendered that settings group,
// but rebuilds the missed emissions from the upstream ones (History) and sends exactly
// what A sent another tab meanwhile, byte for byte, in both formats. Without History, or
// when History cannot serve, B answers with a reset, as before.
func TestResumeOnAnotherInstance(t *testing.T) {
	events := testenv.MustSampleEvents(t)
	for _, f := range []Format{FormatHTML, FormatJSON} {
		inst := newInstances(t, fromSlice)
		leaving := attachWith(t, inst.a, f, 64, nil)
		staying := attachWith(t, inst.a, f, 64, nil)
		for i := range 5 {
			inst.publish(Batch{Events: events[i*3 : i*3+3], Snapshot: nil})
		}
		seen := lastIDOf(t, leaving)
		drain(staying)
		leaving.Close("client gone")
		inst.a.cfg.Hub.Unregister(leaving)
		for i := 5; i < 12; i++ {
			inst.publish(Batch{Events: events[i*3 : i*3+3]})
		}
		want := drain(staying)
		if len(want) != 7 {
			t.Fatalf("%v: the staying tab got %d emissions, want 7", f, len(want))
		}

		r := NewConn(1, "s2", f, 64)
		if err := inst.b.Attach(context.Background(), r, &seen); err != nil {
			t.Fatal(err)
		}
		if len(r.backlog) != len(want) {
			t.Fatalf("%v: B's resume has %d messages, want %d: %v", f, len(r.backlog), len(want), frameEvents(r.backlog))
		}
		for i := range want {
			if !sameFrames(r.backlog[i], want[i]) {
				t.Fatalf("%v: B's resumed emission %d differs from what A sent:\n%s\n---\n%s", f, i,
					joinFrames(r.backlog[i]), joinFrames(want[i]))
			}
		}
		// From now on B renders the group live, under the same ids.
		inst.publish(Batch{Events: events[36:39]})
		live, ref := drain(r), drain(staying)
		if len(live) != 1 || len(ref) != 1 || !sameFrames(live[0], ref[0]) {
			t.Fatalf("%v: B's next live emission differs from A's", f)
		}
		if m := inst.b.Metrics(); m.Resumes != 1 || m.Resets != 0 {
			t.Fatalf("%v: B's metrics: %+v", f, m)
		}
	}

	for name, hist := range map[string]func(*instances) History{
		"no history": nil,
		"history down": func(*instances) History {
			return func(context.Context, uint64) ([]Batch, error) { return nil, errors.New("redis gone") }
		},
		"history with a hole": func(inst *instances) History {
			return func(ctx context.Context, from uint64) ([]Batch, error) {
				all, _ := fromSlice(inst)(ctx, from)
				return all[1:], nil
			}
		},
	} {
		inst := newInstances(t, hist)
		c := attachWith(t, inst.a, FormatHTML, 64, nil)
		inst.publish(Batch{Events: events[:3]})
		seen := lastIDOf(t, c)
		inst.publish(Batch{Events: events[3:6]})
		r := NewConn(1, "s2", FormatHTML, 64)
		if err := inst.b.Attach(context.Background(), r, &seen); err != nil {
			t.Fatal(err)
		}
		if len(r.backlog) == 0 || !bytes.Contains(r.backlog[0].Frames[0].Data, []byte("event: reset\ndata: unknown")) {
			t.Fatalf("%s: B's answer is not a reset: %v", name, frameEvents(r.backlog))
		}
	}

	// An id older than the resume window is expired on B as on A, even if Redis still has it.
	inst := newInstances(t, fromSlice)
	c := attachWith(t, inst.a, FormatJSON, 64, nil)
	inst.publish(Batch{Events: events[:3]})
	seen := lastIDOf(t, c)
	for range 70 {
		inst.publish(Batch{})
	}
	r := NewConn(1, "s2", FormatJSON, 64)
	if err := inst.b.Attach(context.Background(), r, &seen); err != nil {
		t.Fatal(err)
	}
	if len(r.backlog) == 0 || !bytes.Contains(r.backlog[0].Frames[0].Data, []byte("event: reset")) {
		t.Fatalf("an id beyond the window resumed on B: %v", frameEvents(r.backlog))
	}
}

func sameFrames(a, b *Message) bool {
	if a.Seq != b.Seq || len(a.Frames) != len(b.Frames) {
		return false
	}
	for i := range a.Frames {
		if a.Frames[i].ID != b.Frames[i].ID || !bytes.Equal(a.Frames[i].Data, b.Frames[i].Data) {
			return false
		}
	}
	return true
}

func joinFrames(m *Message) string {
	var b bytes.Buffer
	for _, f := range m.Frames {
		b.Write(f.Data)
	}
	return b.String()
}

func frameEvents(ms []*Message) []string {
	var out []string
	for _, m := range ms {
		for _, f := range parseFrames(joinFrames(m)) {
			out = append(out, f.id+" "+f.event)
		}
	}
	return out
}
