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

// stream is one SSE connection. Its counters are written only by the one goroutine that
// reads it (its own, or its poller's) and read after that has stopped.
type stream struct {
	run       *streamRun
	cookie    string
	conn      net.Conn // while a goroutine reads it; nil once a poller has its socket
	fd        int      // the socket a poller reads; -1 otherwise
	connectMs int64    // Unix ms when the request was made; older emissions are replays
	events    uint64
	bytes     uint64
	ok        bool
	ready     atomic.Bool // set once a poller may read the stream
	chunked   bool
	dec       chunkDecoder
	parser    *Parser
}

// open dials, sends the request and reads the answer's head. It reports a failure reason
// for anything but a 200 text/event-stream answer.
func (s *stream) open(ctx context.Context, timeout time.Duration) (br *bufio.Reader, reason string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		var wait time.Duration
		br, wait, reason = s.try(ctx, timeout)
		// The server lets a user hold 8 streams and notices a closed one only when it next
		// writes to it, so a run right after another can meet a brief 429: wait and retry.
		if reason != "http_429" || wait <= 0 || wait > 10*time.Second {
			return br, reason
		}
		select {
		case <-ctx.Done():
			return nil, reason
		case <-time.After(wait):
		}
	}
}

// closeConn closes the stream's net.Conn, if a goroutine reads it.
func (s *stream) closeConn() {
	if s.conn != nil {
		s.conn.Close()
	}
}

// try makes one attempt at opening the stream.
func (s *stream) try(ctx context.Context, timeout time.Duration) (br *bufio.Reader, retry time.Duration, reason string) {
	s.connectMs = time.Now().UnixMilli()
	conn, err := s.run.t.dial(ctx)
	if err != nil {
		return nil, 0, "dial: " + errReason(err)
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
		return nil, 0, "write: " + errReason(err)
	}
	br = bufio.NewReaderSize(conn, s.run.bufSize)
	h, err := readHead(br)
	if err != nil {
		conn.Close()
		return nil, 0, "read head: " + errReason(err)
	}
	if h.status != 200 {
		conn.Close()
		return nil, h.retryAfter, "http_" + strconv.Itoa(h.status)
	}
	if !h.eventStream {
		conn.Close()
		return nil, 0, "not text/event-stream"
	}
	_ = conn.SetDeadline(time.Time{})
	s.conn, s.chunked = conn, h.chunked
	return br, 0, ""
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

// readLoop reads the body on the calling goroutine until the connection ends. Bytes are
// handed on straight from the bufio buffer (Peek and Discard), never copied.
func (s *stream) readLoop(br *bufio.Reader) error {
	for {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				return err
			}
		}
		b, _ := br.Peek(br.Buffered())
		err := s.consume(b)
		_, _ = br.Discard(len(b))
		if err != nil {
			return err
		}
	}
}

// consume takes the next bytes of the response body: chunked or not, as the head said.
// It returns io.EOF at the last chunk, or an error for a malformed chunk.
func (s *stream) consume(b []byte) error {
	if !s.chunked {
		s.feed(b)
		return nil
	}
	return s.dec.decode(b, s)
}

// chunkDecoder undoes HTTP/1.1 chunked transfer coding, in pieces of any size, without
// copying: each run of payload bytes goes to the sink as a slice of the input.
type chunkDecoder struct {
	state  chunkState
	size   int // bytes of the chunk left to read (csData), or its size so far (csSize)
	digits int
}

type chunkState uint8

const (
	csSize   chunkState = iota // hex digits of the chunk size
	csExt                      // chunk extensions, up to the LF
	csSizeLF                   // the LF after the size line's CR
	csData                     // the chunk's payload
	csDataCR                   // the CRLF after the payload
	csDataLF
	csDone // the last chunk has been seen
)

// payloadSink receives decoded payload bytes.
type payloadSink interface{ feed([]byte) }

var errChunkFraming = errors.New("malformed chunked encoding")

func (d *chunkDecoder) decode(b []byte, sink payloadSink) error {
	for len(b) > 0 {
		switch d.state {
		case csSize:
			c := b[0]
			b = b[1:]
			if v, ok := hexDigit(c); ok {
				if d.digits++; d.digits > 8 {
					return fmt.Errorf("%w: chunk size over 8 hex digits", errChunkFraming)
				}
				d.size = d.size<<4 | v
				continue
			}
			if d.digits == 0 {
				return fmt.Errorf("%w: %q where a chunk size belongs", errChunkFraming, c)
			}
			switch c {
			case ';', ' ', '\t':
				d.state = csExt
			case '\r':
				d.state = csSizeLF
			case '\n':
				if err := d.endSize(); err != nil {
					return err
				}
			default:
				return fmt.Errorf("%w: %q after a chunk size", errChunkFraming, c)
			}
		case csExt:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				return nil
			}
			b = b[i+1:]
			if err := d.endSize(); err != nil {
				return err
			}
		case csSizeLF:
			if b[0] != '\n' {
				return fmt.Errorf("%w: CR without LF after a chunk size", errChunkFraming)
			}
			b = b[1:]
			if err := d.endSize(); err != nil {
				return err
			}
		case csData:
			k := min(d.size, len(b))
			sink.feed(b[:k])
			d.size -= k
			b = b[k:]
			if d.size == 0 {
				d.state = csDataCR
			}
		case csDataCR, csDataLF:
			c := b[0]
			b = b[1:]
			switch {
			case c == '\r' && d.state == csDataCR:
				d.state = csDataLF
			case c == '\n':
				d.state, d.size, d.digits = csSize, 0, 0
			default:
				return fmt.Errorf("%w: no CRLF after a chunk", errChunkFraming)
			}
		case csDone:
			return io.EOF
		}
	}
	if d.state == csDone {
		return io.EOF
	}
	return nil
}

// endSize ends a size line: a zero size is the last chunk.
func (d *chunkDecoder) endSize() error {
	if d.size == 0 {
		d.state = csDone
		return io.EOF
	}
	d.state = csData
	return nil
}

func hexDigit(c byte) (int, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10, true
	}
	return 0, false
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
