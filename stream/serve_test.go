package stream

import (
	"bytes"
	"io"
	"net"
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
	go func() { done <- Serve(out, c, ServeOptions{Heartbeat: 20 * time.Millisecond}) }()

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
		done <- Serve(out, c, ServeOptions{Expires: time.Now().Add(50 * time.Millisecond)})
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
	if err := Serve(failingWriter{}, c, ServeOptions{}); err == nil {
		t.Fatal("Serve kept going after a failed flush")
	}
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// TestServeWriteDeadline: the socket's write deadline is set before every write, not only
// at flush, so a frame larger than the write buffer, written after a silence longer than
// the write timeout, goes through; and it is cleared when the stream ends, so the reused
// connection can write later, except after a slow client or shutdown, which keep a bounded one.
func TestServeWriteDeadline(t *testing.T) {
	const timeout = 200 * time.Millisecond
	for _, tc := range []struct {
		reason  string
		cleared bool
	}{{"logout", true}, {"behind", false}} {
		t.Run(tc.reason, func(t *testing.T) {
			server, client := tcpPair(t)
			got := &lockedBuffer{}
			go io.Copy(got, client) //nolint:errcheck
			c := NewConn(1, "s", FormatHTML, 4)
			done := make(chan error, 1)
			go func() {
				done <- Serve(server, c, ServeOptions{
					SetWriteDeadline: server.SetWriteDeadline, WriteTimeout: timeout, Heartbeat: time.Hour,
				})
			}()
			waitFor(t, "the retry hint", func() bool { return strings.HasPrefix(got.String(), "retry: 2000\n\n") })

			time.Sleep(2 * timeout)                                                           // silence: the deadline set at the last flush has passed
			big := AppendEvent(nil, "1.1", "highs", bytes.Repeat([]byte("<tr></tr>"), 8<<10)) // 72 KiB
			c.offer(&Message{Seq: 1, Frames: []Frame{{ID: EventID{1, 1}, Data: big}}})
			waitFor(t, "the large frame", func() bool { return strings.Contains(got.String(), string(big)) })

			c.Close(tc.reason)
			if err := <-done; err != nil {
				t.Fatalf("Serve: %v", err)
			}
			time.Sleep(2 * timeout)
			_, err := server.Write([]byte("next response"))
			if tc.cleared {
				if err != nil {
					t.Fatalf("the connection kept a stale write deadline: %v", err)
				}
				waitFor(t, "the next response", func() bool { return strings.HasSuffix(got.String(), "next response") })
			} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				t.Fatalf("after %q the write deadline should stay bounded; write: %v", tc.reason, err)
			}
		})
	}
}

// TestServeEndsAtShutdown: the shutdown channel ends a stream with a goodbye even if its
// connection was never closed through the hub.
func TestServeEndsAtShutdown(t *testing.T) {
	hub := NewHub(0)
	out := &lockedBuffer{}
	c := NewConn(1, "s", FormatHTML, 4)
	done := make(chan error, 1)
	go func() { done <- Serve(out, c, ServeOptions{Shutdown: hub.Closing()}) }()
	waitFor(t, "the retry hint", func() bool { return strings.HasPrefix(out.String(), "retry: 2000") })
	hub.Shutdown()
	hub.Shutdown() // idempotent
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the stream outlived the shutdown")
	}
	if c.Reason() != "shutdown" || !strings.HasSuffix(out.String(), ": closing: shutdown\n\n") {
		t.Fatalf("reason %q, output %q", c.Reason(), out.String())
	}
}
