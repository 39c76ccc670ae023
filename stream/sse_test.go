package stream

import (
	"strings"
	"testing"
)

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name, id, event, data, want string
	}{
		{"one line", "1.1", "highs", "<tr></tr>", "id: 1.1\nevent: highs\ndata: <tr></tr>\n\n"},
		{"multi line", "2.1", "market", "<div>\n<p>x</p>\n</div>", "id: 2.1\nevent: market\ndata: <div>\ndata: <p>x</p>\ndata: </div>\n\n"},
		{"crlf and cr", "", "x", "a\r\nb\rc", "event: x\ndata: a\ndata: b\ndata: c\n\n"},
		{"trailing newline", "", "", "a\n", "data: a\ndata: \n\n"},
		{"empty", "", "", "", "data: \n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendEvent(nil, tt.id, tt.event, []byte(tt.data))); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAppendComment(t *testing.T) {
	if got := string(AppendComment(nil, "bye\nnow")); got != ": bye now\n\n" {
		t.Fatalf("got %q", got)
	}
}

func TestParseEventID(t *testing.T) {
	tests := []struct {
		in   string
		want EventID
		ok   bool
	}{
		{"5.2", EventID{5, 2}, true},
		{"7", EventID{7, 0}, true},
		{" 9.1 ", EventID{9, 1}, true},
		{"", EventID{}, false},
		{"0.1", EventID{}, false},
		{"-1.2", EventID{}, false},
		{"a.b", EventID{}, false},
		{"1.-1", EventID{}, false},
		{"1.99999", EventID{}, false},
		{"18446744073709551616.1", EventID{}, false},
		{strings.Repeat("1", 50), EventID{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseEventID(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseEventID(%q) = %v %v, want %v %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if !(EventID{3, 1}).After(EventID{2, 9}) || (EventID{2, 1}).After(EventID{2, 1}) || !(EventID{2, 2}).After(EventID{2, 1}) {
		t.Fatal("After ordering is wrong")
	}
}

// FuzzParseEventID: any header value parses or is ignored; what parses prints back the same.
func FuzzParseEventID(f *testing.F) {
	for _, s := range []string{"1.1", "42", "", "x", "1.", ".1", "1.2.3", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := ParseEventID(s)
		if !ok {
			return
		}
		back, ok2 := ParseEventID(id.String())
		if !ok2 || back != id || id.Seq == 0 {
			t.Fatalf("%q parsed to %v, which does not round-trip", s, id)
		}
	})
}

// FuzzAppendEvent: whatever the data, the frame has no bare line breaks outside data:
// lines, and joining its data lines gives the data back (newlines normalised).
func FuzzAppendEvent(f *testing.F) {
	f.Add("<tr>\n</tr>")
	f.Add("a\r\nb\rc\n")
	f.Fuzz(func(t *testing.T, data string) {
		frame := string(AppendEvent(nil, "1.1", "highs", []byte(data)))
		if !strings.HasSuffix(frame, "\n\n") {
			t.Fatalf("frame not terminated: %q", frame)
		}
		lines := strings.Split(strings.TrimSuffix(frame, "\n\n"), "\n")
		var got []string
		for _, l := range lines[2:] {
			if !strings.HasPrefix(l, "data: ") {
				t.Fatalf("line %q is not a data line", l)
			}
			got = append(got, strings.TrimPrefix(l, "data: "))
		}
		want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(data)
		if strings.Join(got, "\n") != want {
			t.Fatalf("data %q came back as %q", want, strings.Join(got, "\n"))
		}
	})
}
