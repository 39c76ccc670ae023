package loadtest

import (
	"bytes"
	"reflect"
	"strconv"
	"testing"
)

// collect runs a parser over pieces and returns the events it reported.
func collect(json bool, pieces ...[]byte) []Event {
	var got []Event
	p := NewParser(json, func(ev Event) { got = append(got, ev) })
	for _, b := range pieces {
		p.Feed(b)
	}
	return got
}

// everySplit feeds body whole, byte by byte, and split at every position, and checks each
// gives want.
func everySplit(t *testing.T, json bool, body string, want []Event) {
	t.Helper()
	b := []byte(body)
	if got := collect(json, b); !reflect.DeepEqual(got, want) {
		t.Fatalf("whole: got %+v, want %+v", got, want)
	}
	var bytewise [][]byte
	for i := range b {
		bytewise = append(bytewise, b[i:i+1])
	}
	if got := collect(json, bytewise...); !reflect.DeepEqual(got, want) {
		t.Fatalf("byte by byte: got %+v, want %+v", got, want)
	}
	for i := range b {
		if got := collect(json, b[:i], b[i:]); !reflect.DeepEqual(got, want) {
			t.Fatalf("split at %d: got %+v, want %+v", i, got, want)
		}
	}
}

func TestParserJSON(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []Event
	}{
		{"one emission",
			"id: 4.0\nevent: dual_universe_stock_data\ndata: {\"emitted_at\":1764000000123,\"highs\":[]}\n\n",
			[]Event{{Emitted: 1764000000123}}},
		{"two emissions and a comment",
			": keep-alive\n\nid: 1.0\ndata: {\"emitted_at\":1}\n\nid: 2.0\ndata: {\"emitted_at\":22}\n\n",
			[]Event{{Emitted: 1}, {Emitted: 22}}},
		{"CRLF line ends",
			"id: 1.0\r\ndata: {\"emitted_at\":77}\r\n\r\n",
			[]Event{{Emitted: 77}}},
		{"space after the colon",
			"data: {\"emitted_at\": 5,\"x\":1}\n\n",
			[]Event{{Emitted: 5}}},
		{"no emission time",
			"data: {\"highs\":[]}\n\n",
			[]Event{{}}},
		{"the first time of an event counts",
			"data: {\"emitted_at\":10,\"x\":{\"emitted_at\":20}}\n\n",
			[]Event{{Emitted: 10}}},
		{"a needle without digits is skipped",
			"data: {\"emitted_at\":\"soon\",\"emitted_at\":31}\n\n",
			[]Event{{Emitted: 31}}},
		{"too many digits are not a time",
			"data: {\"emitted_at\":123456789012345678901}\n\n",
			[]Event{{}}},
		{"a near miss then the needle",
			"data: \"emitted_a\"emitted_at\":9}\n\n",
			[]Event{{Emitted: 9}}},
		{"multi-line data",
			"data: {\"a\":1,\ndata: \"emitted_at\":42}\n\n",
			[]Event{{Emitted: 42}}},
		{"the needle does not span lines",
			"data: {\"emitted_\ndata: at\":42}\n\n",
			[]Event{{}}},
		{"a number ends at the line end",
			"data: \"emitted_at\":42\ndata: 7\n\n",
			[]Event{{Emitted: 42}}},
		{"no data, no event",
			"id: 1.0\nevent: highs\n\n: comment\n\n",
			nil},
		{"logout",
			"event: logout\ndata: session ended\n\n",
			[]Event{{Logout: true}}},
		{"logout without a space, CRLF",
			"event:logout\r\ndata: x\r\n\r\n",
			[]Event{{Logout: true}}},
		{"a longer name is not logout",
			"event: logouts\ndata: x\n\nevent: logout-and-more-than-sixteen\ndata: y\n\n",
			[]Event{{}, {}}},
		{"logout does not stick to the next event",
			"event: logout\ndata: x\n\ndata: {\"emitted_at\":3}\n\n",
			[]Event{{Logout: true}, {Emitted: 3}}},
		{"a blank line without data resets the event",
			"event: logout\n\ndata: {\"emitted_at\":3}\n\n",
			[]Event{{Emitted: 3}}},
		{"the needle outside data lines is ignored",
			"id: \"emitted_at\":5\n: \"emitted_at\":6\ndata: {}\n\n",
			[]Event{{}}},
		{"an unfinished event is not reported",
			"data: {\"emitted_at\":3}\n",
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { everySplit(t, true, tt.body, tt.want) })
	}
}

func TestParserHTML(t *testing.T) {
	row := func(ms int) string {
		return `<tr data-symbol="AAPL" data-emitted="` + strconv.Itoa(ms) + `" data-kind="high" class="fresh"><td>AAPL</td></tr>`
	}
	tests := []struct {
		name string
		body string
		want []Event
	}{
		{"a fragment of rows",
			"id: 3.0\nevent: highs\ndata: " + row(1700000000001) + "\ndata: " + row(1700000000001) + "\n\n",
			[]Event{{Emitted: 1700000000001}}},
		{"summary, then a panel",
			"id: 3.1\nevent: market\ndata: <div class=\"summary\" data-emitted=\"55\" data-testid=\"market-summary\">\n\n" +
				"id: 3.2\nevent: lows\ndata: " + row(56) + "\n\n",
			[]Event{{Emitted: 55}, {Emitted: 56}}},
		{"the JSON needle means nothing in HTML",
			"data: {\"emitted_at\":5}\n\n",
			[]Event{{}}},
		{"a near miss: data-emitted=x then the real one",
			"data: <p data-data-emitted=\"x\"></p><tr data-emitted=\"8\">\n\n",
			[]Event{{Emitted: 8}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { everySplit(t, false, tt.body, tt.want) })
	}
}

// TestParserAllocs guards the point of the parser: no allocation per event or per byte.
func TestParserAllocs(t *testing.T) {
	body := []byte("id: 4.0\nevent: dual_universe_stock_data\ndata: {\"emitted_at\":1764000000123,\"highs\":[{\"symbol\":\"AAPL\"}]}\n\n: ping\n\n")
	n := 0
	p := NewParser(true, func(Event) { n++ })
	allocs := testing.AllocsPerRun(100, func() {
		p.Feed(body[:20])
		p.Feed(body[20:])
	})
	if allocs != 0 {
		t.Fatalf("Feed allocates %.1f times per run, want 0", allocs)
	}
	if n != 101 {
		t.Fatalf("got %d events, want 101", n)
	}
}

// refParse is a plain reading of the parser's contract, line by line, for the fuzz test:
// complete lines only; "data:" lines are searched for the needle followed by optional
// spaces and 1 to 17 digits; an empty line dispatches an event that had data.
func refParse(body []byte, json bool) []Event {
	needle := htmlNeedle
	if json {
		needle = jsonNeedle
	}
	var out []Event
	var cur Event
	hasData, got := false, false
	lines := bytes.Split(body, []byte("\n"))
	lines = lines[:len(lines)-1] // the last piece has no line end yet
	for _, line := range lines {
		switch {
		case len(line) == 0 || (len(line) == 1 && line[0] == '\r'):
			if hasData {
				out = append(out, cur)
			}
			cur, hasData, got = Event{}, false, false
		case bytes.HasPrefix(line, []byte("data:")):
			hasData = true
			rest := line[5:]
			for !got {
				i := bytes.Index(rest, needle)
				if i < 0 {
					break
				}
				rest = rest[i+len(needle):]
				rest = bytes.TrimLeft(rest, " ")
				d := 0
				for d < len(rest) && rest[d] >= '0' && rest[d] <= '9' {
					d++
				}
				if d >= 1 && d <= 17 {
					cur.Emitted, _ = strconv.ParseInt(string(rest[:d]), 10, 64)
					got = true
				}
				rest = rest[d:]
			}
		case bytes.HasPrefix(line, []byte("event:")):
			v := line[6:]
			v = bytes.TrimPrefix(v, []byte(" "))
			v = bytes.TrimSuffix(v, []byte("\r"))
			cur.Logout = string(v) == "logout"
		}
	}
	return out
}

func FuzzParser(f *testing.F) {
	f.Add([]byte("id: 1.0\ndata: {\"emitted_at\":1764000000123}\n\n"), uint8(7), true)
	f.Add([]byte("event: highs\ndata: <tr data-emitted=\"12\">\r\n\r\n"), uint8(3), false)
	f.Add([]byte("event: logout\ndata: bye\n\n: c\n\ndata: \"emitted_at\": 99x\n\n"), uint8(1), true)
	f.Add([]byte("data: \"emitted_at\":\"emitted_at\":5\n\n"), uint8(2), true)
	f.Fuzz(func(t *testing.T, body []byte, step uint8, json bool) {
		want := refParse(body, json)
		var got []Event
		p := NewParser(json, func(ev Event) { got = append(got, ev) })
		// Feed in pieces whose sizes vary with step, so splits fall everywhere.
		size := int(step%13) + 1
		for b := body; len(b) > 0; {
			n := min(size, len(b))
			p.Feed(b[:n])
			b = b[n:]
			size = size*5%17 + 1
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("parser %+v, reference %+v for %q", got, want, body)
		}
	})
}
