package stream

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// MustDirectStream serves c over a loopback socket with direct writes on and a small send
// buffer, so a client that stops reading fills it quickly. It returns the client's end,
// whose retry hint has been read, and Serve's result.
func MustDirectStream(tb *testing.T, c *Conn, writeTimeout time.Duration) (client net.Conn, done <-chan error) {
	tb.Helper()
	server, client := tcpPair(tb)
	tcp := server.(*net.TCPConn)
	// Only the sender's buffer is made small: a small receive buffer on loopback, whose
	// segments can be 64 KiB, stalls the window (the receiver waits for a segment's worth
	// of room before it advertises any).
	if err := tcp.SetWriteBuffer(16 << 10); err != nil {
		tb.Fatal(err)
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	c.SetRaw(raw)
	ch := make(chan error, 1)
	go func() {
		ch <- Serve(server, c, ServeOptions{SetWriteDeadline: server.SetWriteDeadline,
			WriteTimeout: writeTimeout, Heartbeat: time.Hour})
	}()
	hint := make([]byte, len("retry: 2000\n\n"))
	if _, err := io.ReadFull(client, hint); err != nil || string(hint) != "retry: 2000\n\n" {
		tb.Fatalf("retry hint: %q, %v", hint, err)
	}
	waitFor(tb, "the writer to go idle", func() bool {
		c.d.mu.Lock()
		defer c.d.mu.Unlock()
		return c.d.idle
	})
	return client, ch
}

// numbered is message i: one frame with id i and size bytes of data.
func numbered(i, size int) *Message {
	data := AppendEvent(nil, fmt.Sprintf("%d.1", i), "highs", bytes.Repeat([]byte{'a' + byte(i%26)}, size))
	return &Message{Seq: uint64(i), Frames: []Frame{{ID: EventID{uint64(i), 1}, Data: data}}}
}

// TestDirectWritesKeepTheirOrderThroughAFullSocket: while the client reads, messages go
// straight to the socket, also after a silence longer than the write timeout (the
// deadline of the writer's last cycle must not refuse them). When the client stops
// reading, the message that does not fit is finished by the stream's writer and the next
// ones queue behind it; once the client reads again every message arrives whole and in
// order.
func TestDirectWritesKeepTheirOrderThroughAFullSocket(t *testing.T) {
	const timeout = 300 * time.Millisecond
	c := NewConn(1, "s", FormatJSON, 512)
	client, done := MustDirectStream(t, c, timeout)
	p := NewPublisher(Config{Hub: NewHub(0), Logger: newDiscardLogger()})
	var scratch []byte

	time.Sleep(2 * timeout) // longer than any deadline the writer's first cycle could have left
	first := numbered(1, 100)
	if err := c.writeDirect(first, &scratch); err != nil {
		t.Fatalf("an idle stream refused a direct write: %v", err)
	}
	got := make([]byte, len(first.Frames[0].Data))
	if _, err := io.ReadFull(client, got); err != nil || !bytes.Equal(got, first.Frames[0].Data) {
		t.Fatalf("the direct write arrived as %q, %v", got, err)
	}

	// The client stops reading: 300 messages of 4 KiB are far more than the socket holds.
	const n, size = 300, 4 << 10
	direct, queued := 0, 0
	for i := 2; i <= n; i++ {
		m := numbered(i, size)
		if c.writeDirect(m, &scratch) == nil {
			direct++
			continue
		}
		queued++
		p.deliver(c, m, &scratch)
	}
	if direct == 0 || queued == 0 {
		t.Fatalf("direct %d, queued %d: both paths should have been taken", direct, queued)
	}
	if d := p.dropped.Load(); d != 0 {
		t.Fatalf("%d messages dropped with room in the queue", d)
	}

	br := bufio.NewReader(client)
	for i := 2; i <= n; i++ {
		want := numbered(i, size).Frames[0].Data
		got := make([]byte, len(want))
		client.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(br, got); err != nil {
			select {
			case serr := <-done:
				t.Fatalf("message %d: %v (the stream ended: %v, reason %q)", i, err, serr, c.Reason())
			default:
			}
			t.Fatalf("message %d: %v (direct %d, queued %d)", i, err, direct, queued)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d arrived out of order or torn: %.60q…", i, got)
		}
	}
	c.Close("logout")
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestDirectWritesCutOffAClientThatStopsReading: what a direct write could not place goes
// to the stream's writer, which writes it under the deadline, so a client that never reads
// again is cut off after the write timeout, as with queued messages.
func TestDirectWritesCutOffAClientThatStopsReading(t *testing.T) {
	const timeout = 300 * time.Millisecond
	c := NewConn(1, "s", FormatJSON, 64) // room for the whole test: nothing is dropped
	_, done := MustDirectStream(t, c, timeout)
	p := NewPublisher(Config{Hub: NewHub(0), Logger: newDiscardLogger()})
	var scratch []byte
	direct := 0
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * timeout)
	for i := 1; ; i++ {
		select {
		case err := <-done:
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("Serve ended with %v, want a write timeout", err)
			}
			if direct == 0 {
				t.Fatal("no message was written directly")
			}
			if err := c.writeDirect(numbered(0, 10), &scratch); !errors.Is(err, errNotIdle) {
				t.Fatalf("a direct write after the stream ended: %v", err)
			}
			return
		case <-deadline:
			t.Fatal("a client that stopped reading was not cut off")
		case <-tick.C:
		}
		m := numbered(i, 16<<10)
		if c.writeDirect(m, &scratch) == nil {
			direct++
			continue
		}
		p.deliver(c, m, &scratch)
	}
}
