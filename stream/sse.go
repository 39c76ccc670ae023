// Package stream fans detection events out to browsers: the hub tracks connections, the
// publisher filters and renders each emission once per settings group, and this file
// encodes Server-Sent Events. It knows nothing of SQL.
package stream

import (
	"bytes"
	"strconv"
	"strings"
)

// AppendEvent appends one SSE frame. Data with newlines becomes several data: lines (CR and
// CRLF count as newlines too), so multi-line HTML arrives intact.
func AppendEvent(dst []byte, id, event string, data []byte) []byte {
	if id != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, id...)
		dst = append(dst, '\n')
	}
	if event != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, event...)
		dst = append(dst, '\n')
	}
	for {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			break
		}
		dst = append(dst, "data: "...)
		dst = append(dst, data[:i]...)
		dst = append(dst, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	dst = append(dst, "data: "...)
	dst = append(dst, data...)
	return append(dst, '\n', '\n')
}

// AppendComment appends an SSE comment line, which clients ignore (keep-alives, goodbyes).
func AppendComment(dst []byte, text string) []byte {
	dst = append(dst, ": "...)
	dst = append(dst, strings.NewReplacer("\r", " ", "\n", " ").Replace(text)...)
	return append(dst, '\n', '\n')
}

// EventID names one SSE event: the emission's sequence number and the event's place in it,
// written "seq.part", so a reconnect resumes exactly after the last event it saw.
type EventID struct {
	Seq  uint64
	Part int
}

func (id EventID) String() string {
	return strconv.FormatUint(id.Seq, 10) + "." + strconv.Itoa(id.Part)
}

// After reports whether id comes after o.
func (id EventID) After(o EventID) bool {
	return id.Seq > o.Seq || (id.Seq == o.Seq && id.Part > o.Part)
}

// ParseEventID reads a Last-Event-ID header. Anything it does not understand reports false,
// and the stream then starts fresh; it never panics (FuzzParseEventID).
func ParseEventID(s string) (EventID, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 40 {
		return EventID{}, false
	}
	seqStr, partStr, found := strings.Cut(s, ".")
	seq, err := strconv.ParseUint(seqStr, 10, 64)
	if err != nil || seq == 0 {
		return EventID{}, false
	}
	part := 0
	if found {
		p, err := strconv.Atoi(partStr)
		if err != nil || p < 0 || p > 1000 {
			return EventID{}, false
		}
		part = p
	}
	return EventID{Seq: seq, Part: part}, true
}
