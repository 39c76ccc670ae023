package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/bus"
)

const (
	firefoxWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
	safariIPhone   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	chromeLinux    = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)

// TestSessionList: a user's sessions are listed with when, where and in what browser each
// began and was last seen, this browser first; they are named only by opaque refs; one can
// be revoked (only by its owner), all others ended at once; and a request still in flight
// for a revoked session cannot bring it back. Memory and Redis alike.
func TestSessionList(t *testing.T) {
	for name, build := range sessionStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := bus.NewLocal()
			rec := &recorder{}
			b.Subscribe(rec.handle)
			s, store := build(b)
			now := time.Now().Truncate(time.Second)
			s.now = func() time.Time { return now }

			laptop, _ := s.Login(ctx, nil, 42, "h42", Device{IP: "198.51.100.1", UserAgent: firefoxWindows})
			now = now.Add(10 * time.Minute)
			phone, _ := s.Login(ctx, nil, 42, "h42", Device{IP: "198.51.100.2", UserAgent: safariIPhone})
			now = now.Add(10 * time.Minute)
			desk, _ := s.Login(ctx, nil, 42, "h42", Device{IP: "198.51.100.3", UserAgent: chromeLinux})
			other, _ := s.Login(ctx, nil, 43, "h43", Device{IP: "198.51.100.4", UserAgent: chromeLinux})
			rec.take()

			// The laptop is used again later, from elsewhere.
			now = now.Add(5 * time.Minute)
			st, _ := s.Peek(ctx, laptop.ID)
			if err := s.Touch(ctx, st, Device{IP: "203.0.113.7", UserAgent: firefoxWindows}); err != nil {
				t.Fatal(err)
			}

			list, err := s.List(ctx, 42, phone.ID)
			if err != nil || len(list) != 3 {
				t.Fatalf("List = %+v, %v; want 3 sessions", list, err)
			}
			want := []SessionInfo{
				{Ref: phone.Ref, Current: true, Started: phone.LoginAt, LastSeen: phone.LoginAt, IP: "198.51.100.2", Agent: "Safari on iPhone"},
				{Ref: laptop.Ref, Started: laptop.LoginAt, LastSeen: now, IP: "203.0.113.7", Agent: "Firefox on Windows"},
				{Ref: desk.Ref, Started: desk.LoginAt, LastSeen: desk.LoginAt, IP: "198.51.100.3", Agent: "Chrome on Linux"},
			}
			for i, got := range list {
				w := want[i]
				if got.Ref != w.Ref || got.Current != w.Current || !got.Started.Equal(w.Started) || !got.LastSeen.Equal(w.LastSeen) ||
					got.IP != w.IP || got.Agent != w.Agent {
					t.Errorf("session %d = %+v, want %+v", i, got, w)
				}
				for _, st := range []*State{laptop, phone, desk} {
					if got.Ref == "" || strings.Contains(st.ID, got.Ref) || strings.Contains(got.Ref, st.ID) {
						t.Fatalf("ref %q reveals a session id", got.Ref)
					}
				}
			}

			// Another user's ref, junk, and an empty ref name no session of user 42.
			for _, ref := range []string{other.Ref, "junk", "", laptop.ID} {
				if _, err := s.Revoke(ctx, 42, ref); tickstock.ErrorCode(err) != tickstock.ENOTFOUND {
					t.Fatalf("Revoke(42, %q) = %v, want ENOTFOUND", ref, err)
				}
			}
			if _, err := s.Revoke(ctx, 43, laptop.Ref); tickstock.ErrorCode(err) != tickstock.ENOTFOUND {
				t.Fatalf("user 43 revoked user 42's session: %v", err)
			}
			if msgs := rec.take(); len(msgs) != 0 {
				t.Fatalf("failed revocations announced %v", msgs)
			}

			// A request for the laptop's session is in flight while it is revoked.
			inFlight, _ := s.Peek(ctx, laptop.ID)
			ended, err := s.Revoke(ctx, 42, laptop.Ref)
			if err != nil || ended.ID != laptop.ID {
				t.Fatalf("Revoke = %+v, %v", ended, err)
			}
			if msgs := rec.take(); len(msgs) != 1 || msgs[0] != (bus.SessionEnded{SessionID: laptop.ID, Reason: bus.ReasonRevoked}) {
				t.Fatalf("Revoke announced %v", msgs)
			}
			now = now.Add(2 * time.Minute)
			if err := s.Touch(ctx, inFlight, Device{IP: "203.0.113.7"}); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.Peek(ctx, laptop.ID); got != nil {
				t.Fatal("a request in flight brought back a revoked session")
			}
			if list, _ := s.List(ctx, 42, phone.ID); len(list) != 2 {
				t.Fatalf("after revoking, %d sessions listed", len(list))
			}

			// Sign out everywhere else: the desk ends, the phone (this browser) stays, user 43
			// is untouched, and each end is announced on its own (no UserEnded: embeds and
			// tokens live on).
			n, err := s.EndOthers(ctx, 42, phone.ID, bus.ReasonRevoked)
			if err != nil || n != 1 {
				t.Fatalf("EndOthers = %d, %v", n, err)
			}
			if msgs := rec.take(); len(msgs) != 1 || msgs[0] != (bus.SessionEnded{SessionID: desk.ID, Reason: bus.ReasonRevoked}) {
				t.Fatalf("EndOthers announced %v", msgs)
			}
			if got, _ := s.Peek(ctx, phone.ID); got == nil {
				t.Fatal("EndOthers ended the kept session")
			}
			if got, _ := s.Peek(ctx, other.ID); got == nil {
				t.Fatal("EndOthers ended another user's session")
			}
			list, _ = s.List(ctx, 42, phone.ID)
			if len(list) != 1 || !list[0].Current {
				t.Fatalf("after EndOthers: %+v", list)
			}

			// A record that vanished from the store (expired there) leaves the list and the index.
			if err := store.DeleteWithContext(ctx, other.ID); err != nil {
				t.Fatal(err)
			}
			if list, err := s.List(ctx, 43, ""); err != nil || len(list) != 0 {
				t.Fatalf("a vanished session is listed: %+v %v", list, err)
			}
			if ids, _ := s.index.List(ctx, 43); len(ids) != 0 {
				t.Fatalf("a vanished session stays indexed: %v", ids)
			}

			// Ending everyone, keeping none.
			if n, err := s.EndOthers(ctx, 42, "", bus.ReasonRevoked); err != nil || n != 1 {
				t.Fatalf("EndOthers keeping none = %d, %v", n, err)
			}
			if got, _ := s.Peek(ctx, phone.ID); got != nil {
				t.Fatal("the last session survived")
			}
		})
	}
}

func TestDescribeAgent(t *testing.T) {
	for ua, want := range map[string]string{
		firefoxWindows: "Firefox on Windows",
		safariIPhone:   "Safari on iPhone",
		chromeLinux:    "Chrome on Linux",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0": "Edge on macOS",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36":               "Chrome on Android",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36":                       "Headless Chrome on Linux",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0":       "Opera on Windows",
		"curl/8.5.0":                      "curl",
		"Go-http-client/1.1":              "Go program",
		"":                                "Unknown browser",
		"Mozilla/5.0 (X11; Linux x86_64)": "A browser on Linux",
	} {
		if got := DescribeAgent(ua); got != want {
			t.Errorf("DescribeAgent(%q) = %q, want %q", ua, got, want)
		}
	}
}

// FuzzDescribeAgent: any header gives a short summary made of known words, never the header.
func FuzzDescribeAgent(f *testing.F) {
	for _, s := range []string{firefoxWindows, safariIPhone, "", "<script>", strings.Repeat("Chrome/", 1000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		got := DescribeAgent(ua)
		if got == "" || len(got) > 40 {
			t.Fatalf("DescribeAgent(%q) = %q", ua, got)
		}
		for _, r := range got {
			if !(r == ' ' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				t.Fatalf("DescribeAgent(%q) = %q: not made of known words", ua, got)
			}
		}
	})
}
