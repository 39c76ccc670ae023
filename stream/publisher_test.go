package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/settings"
)

// memSettings is an in-memory settings source: the publisher's tests and benchmarks run
// without a database (the handlers' tests cover the real service).
type memSettings struct {
	users map[int64]settings.UserSettings
	sets  map[string][]string
}

func (m *memSettings) Get(_ context.Context, id int64) (settings.UserSettings, error) {
	return m.users[id], nil
}

func (m *memSettings) LoadMany(_ context.Context, ids []int64) (map[int64]settings.UserSettings, error) {
	out := make(map[int64]settings.UserSettings, len(ids))
	for _, id := range ids {
		out[id] = m.users[id]
	}
	return out, nil
}

func (m *memSettings) SymbolSet(_ context.Context, universes []string) (settings.SymbolSet, error) {
	var lists [][]string
	for _, u := range universes {
		lists = append(lists, m.sets[u])
	}
	return settings.NewSymbolSet(lists...), nil
}

func (m *memSettings) TrackerSymbols(ctx context.Context, st settings.Settings, tracker string) (settings.SymbolSet, error) {
	return m.SymbolSet(ctx, st.Selections.For(tracker))
}

func (m *memSettings) Matcher(ctx context.Context, st settings.Settings) (*settings.Matcher, error) {
	set, _ := m.SymbolSet(ctx, st.Selections.HighLow)
	return settings.NewMatcher(st.Filters, set)
}

// MustPublisher builds a publisher over users, spread across distinct settings: user i gets
// settings variant i % distinct (universes × min_count × trend direction differ).
func MustPublisher(tb testing.TB, users, distinct int, format Format) (*Publisher, *Hub, []*Conn) {
	tb.Helper()
	m := &memSettings{users: map[int64]settings.UserSettings{}, sets: map[string][]string{
		"TECH": {"AAPL", "NVDA"}, "ENERGY": {"XOM", "PLUG"}, "ALL": {"AAPL", "NVDA", "XOM", "PLUG"},
	}}
	unis := [][]string{{"TECH"}, {"ENERGY"}, {"ALL"}, {"TECH", "ENERGY"}}
	dirs := []string{"both", "up", "down"}
	for i := 0; i < users; i++ {
		v := i % distinct
		st := settings.DefaultSettings()
		st.Selections.HighLow = unis[v%len(unis)]
		st.Selections.Market = unis[(v/len(unis))%len(unis)]
		st.Filters.HighLow.MinCount = int64(v / (len(unis) * len(unis)))
		st.Filters.Trends.Direction = dirs[v%len(dirs)]
		st.Filters.Trends.MinStrength = "weak"
		m.users[int64(i+1)] = settings.UserSettings{UserID: int64(i + 1), Settings: st}
	}
	hub := NewHub(0)
	p := NewPublisher(Config{Hub: hub, Settings: m, Logger: discardLogger()})
	conns := make([]*Conn, users)
	for i := range conns {
		conns[i] = NewConn(int64(i+1), fmt.Sprint("s", i), format, 64)
		if err := hub.Register(conns[i]); err != nil {
			tb.Fatal(err)
		}
	}
	return p, hub, conns
}

func TestPublisherSharesOneRenderingPerGroup(t *testing.T) {
	p, _, conns := MustPublisher(t, 40, 4, FormatHTML)
	events := testenv.MustSampleEvents(t)
	p.Publish(context.Background(), Batch{Events: events})
	if g := p.UniqueGroups(); g != 4 {
		t.Fatalf("%d groups for 4 distinct settings", g)
	}
	first := map[int]*Message{}
	for i, c := range conns {
		select {
		case m := <-c.Messages():
			if prev, ok := first[i%4]; ok && prev != m {
				t.Fatalf("users with equal settings got separate renderings")
			}
			first[i%4] = m
		default:
			t.Fatalf("conn %d got nothing", i)
		}
	}
	if first[0] == first[1] {
		t.Fatal("different settings shared a rendering")
	}
	if m := p.Metrics(); m.Emissions != 1 || m.DroppedMessages != 0 {
		t.Fatalf("metrics %+v", m)
	}
}

// BenchmarkPublisherEmission measures one emission (filter + render + offer) of the sample's
// events (119) in one emission, to N connections across 100 distinct settings.
func BenchmarkPublisherEmission(b *testing.B) {
	events := testenv.MustSampleEvents(b)
	for _, n := range []int{1000, 10000} {
		for _, f := range []struct {
			name   string
			format Format
		}{{"html", FormatHTML}, {"json", FormatJSON}} {
			b.Run(fmt.Sprintf("conns=%d/%s", n, f.name), func(b *testing.B) {
				p, _, conns := MustPublisher(b, n, 100, f.format)
				ctx := context.Background()
				batch := Batch{Events: events}
				var bytes, msgs int64
				var cpu time.Duration
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					before := cpuTime()
					p.Publish(ctx, batch)
					cpu += cpuTime() - before
					b.StopTimer()
					for _, c := range conns { // the writers drain their queues
						select {
						case m := <-c.Messages():
							msgs++
							for _, fr := range m.Frames {
								bytes += int64(len(fr.Data))
							}
						default:
						}
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(bytes)/float64(msgs), "bytes/msg")
				b.ReportMetric(float64(msgs)/float64(b.N), "msgs/emission")
				// CPU time spent in Publish (all threads, GC included): steadier than
				// ns/op on a machine shared with other work.
				b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/emission")
			})
		}
	}
}

func discardLogger() *slogLogger { return newDiscardLogger() }

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestPublisherJSONMatchesEmissionType(t *testing.T) {
	p, _, conns := MustPublisher(t, 1, 1, FormatJSON)
	events := testenv.MustSampleEvents(t)
	p.Publish(context.Background(), Batch{Events: events})
	m := <-conns[0].Messages()
	frame := string(m.Frames[0].Data)
	data := frame[strings.Index(frame, "data: ")+6 : len(frame)-2]
	var em Emission
	if err := json.Unmarshal([]byte(data), &em); err != nil {
		t.Fatalf("emission JSON does not fit the Emission type: %v\n%s", err, data)
	}
	n := len(em.Highs) + len(em.Lows) + len(em.Trending.Up) + len(em.Trending.Down) + len(em.Surging.Up) + len(em.Surging.Down)
	us := p.cfg.Settings.(*memSettings).users[1]
	set, _ := p.cfg.Settings.TrackerSymbols(context.Background(), us.Settings, settings.TrackerHighLow)
	want := 0
	for _, e := range events {
		if settings.Shows(e, us.Filters, set) {
			want++
		}
	}
	if n != want || want == 0 || em.EmittedAt == 0 {
		t.Fatalf("emission holds %d events, want the %d the user's settings allow", n, want)
	}
	// No nulls, even for an empty emission.
	p.Publish(context.Background(), Batch{})
	m = <-conns[0].Messages()
	if s := string(m.Frames[0].Data); strings.Contains(s, "null") || !strings.Contains(s, `"highs":[]`) {
		t.Fatalf("empty emission: %s", s)
	}
}
