package loadtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func TestReadHead(t *testing.T) {
	tests := []struct {
		name string
		head string
		want head
		err  bool
	}{
		{"stream", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
			head{status: 200, chunked: true, eventStream: true}, false},
		{"too many streams", "HTTP/1.1 429 Too Many Requests\r\nretry-after: 5\r\nContent-Type: application/json\r\n\r\n",
			head{status: 429, retryAfter: 5 * time.Second}, false},
		{"plain body", "HTTP/1.0 200 OK\r\ncontent-type: Text/Event-Stream; charset=utf-8\r\n\r\n",
			head{status: 200, eventStream: true}, false},
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", head{}, true},
		{"cut short", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n", head{status: 200, eventStream: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readHead(bufio.NewReader(strings.NewReader(tt.head)))
			if (err != nil) != tt.err {
				t.Fatalf("error %v, want error %v", err, tt.err)
			}
			if err == nil && got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestReadChunkedBody feeds a chunked body, with chunk borders inside lines and a tiny read
// buffer, through stream.readLoop, and checks the events and bytes counted.
func TestReadChunkedBody(t *testing.T) {
	sse := "id: 1.0\ndata: {\"emitted_at\":1000}\n\nid: 2.0\ndata: {\"emitted_at\":2000}\n\n"
	var body strings.Builder
	for rest := sse; len(rest) > 0; {
		n := min(7, len(rest))
		fmt.Fprintf(&body, "%x;x=y\r\n%s\r\n", n, rest[:n])
		rest = rest[n:]
	}
	body.WriteString("0\r\n\r\n")
	run := &streamRun{json: true, lost: newReasons(), fails: newReasons()}
	run.phase.Store(phaseMeasuring)
	s := &stream{run: run, connectMs: 1500, chunked: true}
	s.parser = NewParser(true, s.onEvent)
	err := s.readLoop(bufio.NewReaderSize(strings.NewReader(body.String()), 16))
	if !errors.Is(err, io.EOF) {
		t.Fatalf("read ended with %v, want EOF at the last chunk", err)
	}
	if s.events != 2 || s.bytes != uint64(len(sse)) {
		t.Fatalf("events %d bytes %d, want 2 and %d", s.events, s.bytes, len(sse))
	}
	// Only the second emission came after the stream connected (at 1500 ms).
	if n := run.latency.Count(); n != 1 {
		t.Fatalf("%d latencies recorded, want 1 (the first emission predates the stream)", n)
	}
}

func TestParseProc(t *testing.T) {
	status := []byte("Name:\ttickstock\nVmPeak:\t  200000 kB\nVmRSS:\t  123456 kB\nThreads:\t9\n")
	rss, err := parseVmRSS(status)
	if err != nil || rss != 123456*1024 {
		t.Fatalf("parseVmRSS = %d, %v", rss, err)
	}
	if _, err := parseVmRSS([]byte("Name:\tzombie\n")); err == nil {
		t.Fatal("a status without VmRSS should fail")
	}
	// The command name may hold spaces and parentheses.
	stat := []byte("4242 (tick (stock) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 100 0 0")
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3250*time.Millisecond {
		t.Fatalf("parseStatCPU = %v, %v; want 3.25s", cpu, err)
	}
	if _, err := parseStatCPU([]byte("4242 (x) S 1 2")); err == nil {
		t.Fatal("a short stat line should fail")
	}
}

func TestReadProcSelf(t *testing.T) {
	st, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.RSS < 1<<20 || st.RSS > 64<<30 {
		t.Fatalf("RSS %d bytes is not plausible for a Go test binary", st.RSS)
	}
	if _, err := ReadProc(1 << 30); err == nil {
		t.Fatal("a missing process should fail")
	}
}

// sink collects decoded payload.
type sink struct{ b []byte }

func (s *sink) feed(p []byte) { s.b = append(s.b, p...) }

func TestChunkDecoder(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            error // after the whole input
	}{
		{"two chunks and the end", "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n", "hello, world", io.EOF},
		{"extensions and upper-case hex", "A;name=v\r\n0123456789\r\n0\r\n", "0123456789", io.EOF},
		{"bare LF line ends", "3\nabc\n0\n", "abc", io.EOF},
		{"unfinished", "10\r\nabc", "abc", nil},
		{"no size", "\r\nabc", "", errChunkFraming},
		{"not hex", "zz\r\n", "", errChunkFraming},
		{"too big", "123456789\r\n", "", errChunkFraming},
		{"no CRLF after the data", "3\r\nabcX", "abc", errChunkFraming},
		{"CR without LF", "3\rabc", "", errChunkFraming},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, and byte by byte: the result must not depend on how reads split it.
			for _, step := range []int{len(tt.in), 1} {
				var d chunkDecoder
				var out sink
				var err error
				for in := []byte(tt.in); len(in) > 0 && err == nil; {
					n := min(step, len(in))
					err = d.decode(in[:n], &out)
					in = in[n:]
				}
				if string(out.b) != tt.want || !errors.Is(err, tt.err) && err != tt.err {
					t.Fatalf("step %d: got %q, %v; want %q, %v", step, out.b, err, tt.want, tt.err)
				}
			}
		})
	}
}

// FuzzChunkDecoder: any payload, cut into chunks of any sizes and fed in reads of any
// sizes, decodes to itself; and arbitrary input never panics.
func FuzzChunkDecoder(f *testing.F) {
	f.Add([]byte("id: 1\ndata: {\"emitted_at\":1}\n\n"), uint8(3), uint8(5))
	f.Add([]byte(""), uint8(1), uint8(1))
	f.Fuzz(func(t *testing.T, payload []byte, chunk, read uint8) {
		var enc []byte
		for rest, size := payload, int(chunk%32)+1; len(rest) > 0; size = size*7%31 + 1 {
			n := min(size, len(rest))
			enc = fmt.Appendf(enc, "%x\r\n", n)
			enc = append(enc, rest[:n]...)
			enc = append(enc, "\r\n"...)
			rest = rest[n:]
		}
		enc = append(enc, "0\r\n\r\n"...)
		var d chunkDecoder
		var out sink
		var err error
		for in, size := enc, int(read%17)+1; len(in) > 0 && err == nil; size = size*5%19 + 1 {
			n := min(size, len(in))
			err = d.decode(in[:n], &out)
			in = in[n:]
		}
		if !errors.Is(err, io.EOF) || string(out.b) != string(payload) {
			t.Fatalf("decoded %q, %v; want %q, EOF", out.b, err, payload)
		}
		// The payload itself as chunked input: an error or not, never a panic.
		var d2 chunkDecoder
		_ = d2.decode(payload, &sink{})
	})
}
