package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// Phases of a stream run. Only events that arrive while measuring are counted.
const (
	phaseOpening int32 = iota
	phaseMeasuring
	phaseStopping
)

// streamRun is the state all streams of one run share.
type streamRun struct {
	t       *target
	phase   atomic.Int32
	latency Histogram // microseconds from emission to arrival
	json    bool
	bufSize int
	fails   *reasons // connections that never opened
	lost    *reasons // connections that closed while measuring
}

// stream is one SSE connection. Its counters are written only by its own goroutine and
// read after it has ended.
type stream struct {
	run       *streamRun
	cookie    string
	conn      net.Conn
	connectMs int64 // Unix ms when the request was made; older emissions are replays
	events    uint64
	bytes     uint64
	ok        bool
	parser    *Parser
}

// open dials, sends the request and reads the answer's head. It reports a failure reason
// for anything but a 200 text/event-stream answer.
func (s *stream) open(ctx context.Context, timeout time.Duration) (br *bufio.Reader, chunked bool, reason string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		var wait time.Duration
		br, chunked, wait, reason = s.try(ctx, timeout)
		// The server lets a user hold 8 streams and notices a closed one only when it next
		// writes to it, so a run right after another can meet a brief 429: wait and retry.
		if reason != "http_429" || wait <= 0 || wait > 10*time.Second {
			return br, chunked, reason
		}
		select {
		case <-ctx.Done():
			return nil, false, reason
		case <-time.After(wait):
		}
	}
}

// try makes one attempt at opening the stream.
func (s *stream) try(ctx context.Context, timeout time.Duration) (br *bufio.Reader, chunked bool, retry time.Duration, reason string) {
	s.connectMs = time.Now().UnixMilli()
	conn, err := s.run.t.dial(ctx)
	if err != nil {
		return nil, false, 0, "dial: " + errReason(err)
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	format := "html"
	if s.run.json {
		format = "json"
	}
	req := "GET " + s.run.t.path("/stream") + "?format=" + format + " HTTP/1.1\r\n" +
		"Host: " + s.run.t.host + "\r\n" +
		"User-Agent: tickstock-bench\r\n" +
		"Accept: text/event-stream\r\n" +
		"Cache-Control: no-cache\r\n" +
		"Cookie: " + s.cookie + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, false, 0, "write: " + errReason(err)
	}
	br = bufio.NewReaderSize(conn, s.run.bufSize)
	h, err := readHead(br)
	if err != nil {
		conn.Close()
		return nil, false, 0, "read head: " + errReason(err)
	}
	if h.status != 200 {
		conn.Close()
		return nil, false, h.retryAfter, "http_" + strconv.Itoa(h.status)
	}
	if !h.eventStream {
		conn.Close()
		return nil, false, 0, "not text/event-stream"
	}
	_ = conn.SetDeadline(time.Time{})
	s.conn = conn
	return br, h.chunked, 0, ""
}

// head is what the tool needs of a response head.
type head struct {
	status      int
	chunked     bool
	eventStream bool
	retryAfter  time.Duration
}

// readHead reads an HTTP/1.1 response head.
func readHead(br *bufio.Reader) (h head, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return h, err
	}
	f := bytes.Fields(line)
	if len(f) < 2 || !bytes.HasPrefix(f[0], []byte("HTTP/1.")) {
		return h, fmt.Errorf("bad status line %q", truncate(string(line), 60))
	}
	if h.status, err = strconv.Atoi(string(f[1])); err != nil {
		return h, fmt.Errorf("bad status line %q", truncate(string(line), 60))
	}
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return h, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return h, nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			h.chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Content-Type")):
			h.eventStream = bytes.HasPrefix(bytes.ToLower(value), []byte("text/event-stream"))
		case bytes.EqualFold(name, []byte("Retry-After")):
			if secs, err := strconv.Atoi(string(value)); err == nil && secs >= 0 {
				h.retryAfter = time.Duration(max(secs, 1)) * time.Second
			}
		}
	}
}

// read consumes the body until the connection ends. Bytes are handed to the parser straight
// from the bufio buffer (Peek and Discard), so the body is never copied.
func (s *stream) read(br *bufio.Reader, chunked bool) error {
	if !chunked {
		for {
			if br.Buffered() == 0 {
				if _, err := br.Peek(1); err != nil {
					return err
				}
			}
			b, _ := br.Peek(br.Buffered())
			s.feed(b)
			_, _ = br.Discard(len(b))
		}
	}
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		n, err := parseChunkSize(line)
		if err != nil {
			return err
		}
		if n == 0 {
			return io.EOF
		}
		for n > 0 {
			if br.Buffered() == 0 {
				if _, err := br.Peek(1); err != nil {
					return err
				}
			}
			k := min(n, br.Buffered())
			b, _ := br.Peek(k)
			s.feed(b)
			_, _ = br.Discard(k)
			n -= k
		}
		if line, err = br.ReadSlice('\n'); err != nil {
			return err
		}
		if len(bytes.TrimRight(line, "\r\n")) != 0 {
			return errors.New("chunk not followed by CRLF")
		}
	}
}

// parseChunkSize reads a chunk-size line ("1a2b;ext\r\n").
func parseChunkSize(line []byte) (int, error) {
	n := 0
	digits := 0
	for _, c := range line {
		var d int
		switch {
		case c >= '0' && c <= '9':
			d = int(c - '0')
		case c >= 'a' && c <= 'f':
			d = int(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = int(c-'A') + 10
		default:
			if digits == 0 {
				return 0, fmt.Errorf("bad chunk size line %q", truncate(string(line), 40))
			}
			return n, nil
		}
		digits++
		if digits > 8 {
			return 0, fmt.Errorf("chunk size too large in %q", truncate(string(line), 40))
		}
		n = n<<4 | d
	}
	return 0, fmt.Errorf("bad chunk size line %q", truncate(string(line), 40))
}

func (s *stream) feed(b []byte) {
	if s.run.phase.Load() == phaseMeasuring {
		s.bytes += uint64(len(b))
	}
	s.parser.Feed(b)
}

// onEvent counts an event that arrives while measuring, with its latency when it names
// an emission made after this stream connected (a new HTML stream first replays older ones).
func (s *stream) onEvent(ev Event) {
	if ev.Logout {
		s.run.lost.add("logout")
	}
	if s.run.phase.Load() != phaseMeasuring {
		return
	}
	s.events++
	if ev.Emitted > 0 && ev.Emitted >= s.connectMs {
		s.run.latency.Record(time.Now().UnixMicro() - ev.Emitted*1000)
	}
}

// errReason names a network error briefly, so failures can be counted by kind.
func errReason(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no free local port (EADDRNOTAVAIL)"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too many open files"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed by the server"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return truncate(err.Error(), 80)
}
