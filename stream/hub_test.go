package stream

import "testing"

func TestHubLimitsStreamsPerUser(t *testing.T) {
	h := NewHub(3)
	var conns []*Conn
	for i := 0; i < 3; i++ {
		c := NewConn(1, "s1", FormatHTML, 4)
		if err := h.Register(c); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	if err := h.Register(NewConn(1, "s1", FormatHTML, 4)); err != ErrTooManyStreams {
		t.Fatalf("4th stream: %v", err)
	}
	embed := NewConn(1, "", FormatHTML, 4)
	embed.EmbedID = "e1"
	if err := h.Register(embed); err != nil {
		t.Fatalf("embeds do not count against tabs: %v", err)
	}
	if err := h.Register(NewConn(2, "s2", FormatHTML, 4)); err != nil {
		t.Fatalf("another user: %v", err)
	}
	if users, n := h.Counts(); users != 2 || n != 5 {
		t.Fatalf("counts %d users %d conns", users, n)
	}
	h.Unregister(conns[0])
	h.Unregister(conns[0]) // idempotent
	if err := h.Register(NewConn(1, "s1", FormatHTML, 4)); err != nil {
		t.Fatalf("after one closed: %v", err)
	}
	if n := h.EndSession("s1", "logout"); n != 3 {
		t.Fatalf("EndSession closed %d", n)
	}
	for _, c := range conns[1:] {
		select {
		case <-c.Done():
			if c.Reason() != "logout" {
				t.Fatalf("reason %q", c.Reason())
			}
		default:
			t.Fatal("session stream still open")
		}
	}
	select {
	case <-embed.Done():
		t.Fatal("ending a session closed an embed")
	default:
	}
	if n := h.EndEmbed("e1", "revoked"); n != 1 {
		t.Fatalf("EndEmbed closed %d", n)
	}
	h.Shutdown()
	if err := h.Register(NewConn(3, "s3", FormatHTML, 4)); err != ErrHubClosed {
		t.Fatalf("register after shutdown: %v", err)
	}
}

func TestConnDropsOldest(t *testing.T) {
	c := NewConn(1, "s", FormatHTML, 2)
	for seq := uint64(1); seq <= 2; seq++ {
		if c.offer(&Message{Seq: seq}) {
			t.Fatalf("dropped with room left")
		}
	}
	if !c.offer(&Message{Seq: 3}) {
		t.Fatal("a full queue did not drop")
	}
	if got := (<-c.Messages()).Seq; got != 2 {
		t.Fatalf("oldest kept: got %d first, want 2", got)
	}
	if got := (<-c.Messages()).Seq; got != 3 {
		t.Fatalf("newest lost: got %d", got)
	}
	if c.Dropped() != 1 {
		t.Fatalf("dropped count %d", c.Dropped())
	}
}

// TestHubEmbedCapAndTokenStreams: an embed link holds at most its cap of streams, however
// few its owner's tabs; API-token streams count as the owner's own; EndToken and EndEmbed
// close exactly their streams, and a closed embed stream frees its place.
func TestHubEmbedCapAndTokenStreams(t *testing.T) {
	h := NewHub(2, WithEmbedLimit(3))
	embed := func(id string) *Conn {
		c := NewConn(1, "", FormatHTML, 4)
		c.EmbedID = id
		return c
	}
	var e1 []*Conn
	for i := 0; i < 3; i++ {
		c := embed("e1")
		if err := h.Register(c); err != nil {
			t.Fatalf("embed stream %d: %v", i, err)
		}
		e1 = append(e1, c)
	}
	if err := h.Register(embed("e1")); err != ErrEmbedFull {
		t.Fatalf("embed stream past the cap: %v, want ErrEmbedFull", err)
	}
	if err := h.Register(embed("e2")); err != nil {
		t.Fatalf("another link has its own cap: %v", err)
	}

	tok := NewConn(1, "", FormatJSON, 4)
	tok.TokenID = "t1"
	if err := h.Register(tok); err != nil {
		t.Fatalf("token stream: %v", err)
	}
	if err := h.Register(NewConn(1, "s1", FormatHTML, 4)); err != nil {
		t.Fatalf("one tab besides the token stream: %v", err)
	}
	if err := h.Register(NewConn(1, "s1", FormatHTML, 4)); err != ErrTooManyStreams {
		t.Fatalf("a token stream counts as one of the user's: %v", err)
	}

	if n := h.EndToken("t1", "revoked"); n != 1 {
		t.Fatalf("EndToken closed %d, want 1", n)
	}
	if tok.Reason() != "revoked" {
		t.Fatalf("token stream reason %q", tok.Reason())
	}
	for _, c := range e1 {
		if c.Reason() != "" {
			t.Fatalf("EndToken closed an embed stream (%q)", c.Reason())
		}
	}
	h.Unregister(e1[0])
	if err := h.Register(embed("e1")); err != nil {
		t.Fatalf("a freed place is reusable: %v", err)
	}
	if n := h.EndEmbed("e1", "revoked"); n != 3 {
		t.Fatalf("EndEmbed closed %d, want 3", n)
	}
	h.Unregister(tok)
	if n := h.EndToken("t1", "revoked"); n != 0 {
		t.Fatalf("EndToken after unregister closed %d", n)
	}
}
