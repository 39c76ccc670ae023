package loadtest

import "bytes"

// Needles that precede the emission time (Unix ms) in an event's data: the JSON stream's
// "emitted_at" key and the HTML rows' data-emitted attribute (SPEC section 9).
var (
	jsonNeedle = []byte(`"emitted_at":`)
	htmlNeedle = []byte(`data-emitted="`)
	jsonFail   = failureTable(jsonNeedle)
	htmlFail   = failureTable(htmlNeedle)
)

// Event is what the parser reports for each dispatched SSE event.
type Event struct {
	// Emitted is the first emission time found in the event's data, in Unix ms, or 0.
	Emitted int64
	// Logout is set for the stream's "event: logout" (the session ended).
	Logout bool
}

type lineKind uint8

const (
	linePending lineKind = iota // the field name is still being read
	lineData
	lineEvent
	lineOther // comments, id:, retry:, unknown fields
)

// eventNameMax is how much of an "event:" line's value the parser keeps: enough to tell
// "logout" from other names.
const eventNameMax = 16

// Parser reads a Server-Sent Events body in pieces of any size and reports each event with
// the emission time found in its data. It never copies the body and, once made, never
// allocates, so one parser per stream costs a few dozen bytes and almost no CPU: it looks
// for the needle only until the first match of an event, then skips to the next line.
//
// Lines end in LF or CRLF (a lone CR is not treated as a line end; the server never sends
// one). A line that starts with "data:" is data; an empty line dispatches the event when it
// had data, as in the WHATWG EventSource algorithm.
type Parser struct {
	needle []byte
	fail   []int // KMP failure table of needle

	// the line being read
	kind    lineKind
	field   [6]byte
	fieldN  int
	lineLen int  // bytes in the line so far
	lastCR  bool // the line's last byte so far is '\r'
	name    [eventNameMax]byte
	nameN   int

	// the event being read
	hasData bool
	got     bool  // Emitted is final for this event
	match   int   // needle bytes matched so far
	inNum   bool  // reading the digits after the needle
	digits  int   // digits read so far
	num     int64 // value so far
	emitted int64
	logout  bool

	// OnEvent is called for each dispatched event.
	OnEvent func(Event)
}

// NewParser returns a parser for the JSON stream (json true) or the HTML stream.
func NewParser(json bool, onEvent func(Event)) *Parser {
	if json {
		return &Parser{needle: jsonNeedle, fail: jsonFail, OnEvent: onEvent}
	}
	return &Parser{needle: htmlNeedle, fail: htmlFail, OnEvent: onEvent}
}

// failureTable is the Knuth-Morris-Pratt table: fail[i] is the length of the longest proper
// border of needle[:i+1].
func failureTable(needle []byte) []int {
	f := make([]int, len(needle))
	k := 0
	for i := 1; i < len(needle); i++ {
		for k > 0 && needle[i] != needle[k] {
			k = f[k-1]
		}
		if needle[i] == needle[k] {
			k++
		}
		f[i] = k
	}
	return f
}

// Feed parses the next piece of the body.
func (p *Parser) Feed(b []byte) {
	for len(b) > 0 {
		if p.kind == linePending {
			b = p.readField(b)
			continue
		}
		nl := bytes.IndexByte(b, '\n')
		seg := b
		if nl >= 0 {
			seg = b[:nl]
		}
		if len(seg) > 0 {
			switch p.kind {
			case lineData:
				if !p.got {
					p.scan(seg)
				}
			case lineEvent:
				p.keepName(seg)
			}
			p.lineLen += len(seg)
			p.lastCR = seg[len(seg)-1] == '\r'
		}
		if nl < 0 {
			return
		}
		p.endLine()
		b = b[nl+1:]
	}
}

// readField reads the start of a line until its kind is known, and returns the rest.
func (p *Parser) readField(b []byte) []byte {
	for i, c := range b {
		if c == '\n' {
			p.endLine()
			return b[i+1:]
		}
		p.lineLen++
		p.lastCR = c == '\r'
		if p.fieldN == 0 && c == ':' {
			p.kind = lineOther // a comment
			return b[i+1:]
		}
		if p.fieldN < len(p.field) {
			p.field[p.fieldN] = c
		}
		p.fieldN++
		switch {
		case p.fieldN == 5 && string(p.field[:5]) == "data:":
			p.kind = lineData
			p.hasData = true
			return b[i+1:]
		case p.fieldN == 6 && string(p.field[:6]) == "event:":
			p.kind = lineEvent
			p.nameN = 0
			return b[i+1:]
		case p.fieldN >= 6 || c == ':':
			p.kind = lineOther
			return b[i+1:]
		}
	}
	return nil
}

// endLine finishes a line; an empty line (or a lone CR before the LF) dispatches the event.
func (p *Parser) endLine() {
	if p.inNum {
		p.finishNum()
	}
	p.match = 0
	blank := p.lineLen == 0 || (p.lineLen == 1 && p.lastCR)
	if p.kind == lineEvent {
		name := p.name[:p.nameN]
		if len(name) > 0 && name[0] == ' ' {
			name = name[1:]
		}
		if len(name) > 0 && name[len(name)-1] == '\r' {
			name = name[:len(name)-1]
		}
		p.logout = string(name) == "logout"
	}
	p.kind, p.fieldN, p.lineLen, p.lastCR = linePending, 0, 0, false
	if !blank {
		return
	}
	if p.hasData && p.OnEvent != nil {
		p.OnEvent(Event{Emitted: p.emitted, Logout: p.logout})
	}
	p.hasData, p.got, p.emitted, p.logout = false, false, 0, false
}

func (p *Parser) keepName(seg []byte) {
	n := copy(p.name[p.nameN:], seg)
	p.nameN += n
}

// scan looks for the needle and the digits after it in one data segment.
func (p *Parser) scan(seg []byte) {
	for len(seg) > 0 && !p.got {
		if p.inNum {
			c := seg[0]
			switch {
			case c >= '0' && c <= '9' && p.digits < 18:
				p.num = p.num*10 + int64(c-'0')
				p.digits++
				seg = seg[1:]
			case c == ' ' && p.digits == 0:
				seg = seg[1:]
			default:
				p.finishNum()
			}
			continue
		}
		if p.match == 0 {
			i := bytes.IndexByte(seg, p.needle[0])
			if i < 0 {
				return
			}
			seg = seg[i+1:]
			p.match = 1
		} else {
			c := seg[0]
			for p.match > 0 && c != p.needle[p.match] {
				p.match = p.fail[p.match-1]
			}
			if c == p.needle[p.match] {
				p.match++
			}
			seg = seg[1:]
		}
		if p.match == len(p.needle) {
			p.match = 0
			p.inNum, p.digits, p.num = true, 0, 0
		}
	}
}

// finishNum ends the digits after a needle: a number makes the event's emission time, and
// anything else (no digits, too many) lets the search go on.
func (p *Parser) finishNum() {
	p.inNum = false
	if p.digits > 0 && p.digits < 18 {
		p.emitted, p.got = p.num, true
	}
}
