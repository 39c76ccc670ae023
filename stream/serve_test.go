package stream

import (
	"bufio"
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe to read while Serve writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestServeWritesHeartbeatsMessagesAndGoodbye(t *testing.T) {
	out := &lockedBuffer{}
	c := NewConn(1, "s", FormatHTML, 4)
	done := make(chan error, 1)
	go func() { done <- Serve(bufio.NewWriter(out), c, ServeOptions{Heartbeat: 20 * time.Millisecond}) }()

	waitFor(t, "the retry hint and a keep-alive", func() bool {
		s := out.String()
		return strings.HasPrefix(s, "retry: 2000\n\n") && strings.Contains(s, ": keep-alive\n\n")
	})
	c.offer(&Message{Seq: 1, Frames: []Frame{{ID: EventID{1, 1}, Data: AppendEvent(nil, "1.1", "highs", []byte("<tr></tr>"))}}})
	waitFor(t, "the message", func() bool { return strings.Contains(out.String(), "id: 1.1\nevent: highs\ndata: <tr></tr>\n\n") })

	c.Close("logout")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Serve did not return after Close")
	}
	if s := out.String(); !strings.HasSuffix(s, "event: logout\ndata: logout\n\n: closing: logout\n\n") {
		t.Fatalf("no logout event and goodbye comment at the end: %q", s[max(0, len(s)-80):])
	}
}

func TestServeEndsAtSessionExpiry(t *testing.T) {
	out := &lockedBuffer{}
	c := NewConn(1, "s", FormatHTML, 4)
	done := make(chan error, 1)
	go func() {
		done <- Serve(bufio.NewWriter(out), c, ServeOptions{Expires: time.Now().Add(50 * time.Millisecond)})
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("stream outlived its session")
	}
	if c.Reason() != "expired" || !strings.Contains(out.String(), "event: logout\ndata: expired") {
		t.Fatalf("reason %q, output %q", c.Reason(), out.String())
	}
}

// failingWriter fails every write, like a socket whose client went away.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errGone }

var errGone = &goneError{}

type goneError struct{}

func (*goneError) Error() string { return "connection reset by peer" }

func TestServeReturnsWhenTheClientIsGone(t *testing.T) {
	c := NewConn(1, "s", FormatHTML, 4)
	if err := Serve(bufio.NewWriter(failingWriter{}), c, ServeOptions{}); err == nil {
		t.Fatal("Serve kept going after a failed flush")
	}
}
