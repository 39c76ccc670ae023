package bus

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

// every message type, with values in every field.
var samples = []Message{
	SettingsChanged{UserID: 7},
	AccountChanged{UserID: 8},
	UniversesChanged{},
	SessionEnded{SessionID: "sid-1", Reason: ReasonLogout},
	UserEnded{UserID: 9, Reason: ReasonDisabled},
	EmbedRevoked{EmbedID: "emb-1"},
	TokenRevoked{TokenID: "tok-1"},
	SymbolsAdded{Symbols: []string{"AAPL", "BRK.B"}},
	Resync{},
}

func TestEncodeDecode(t *testing.T) {
	kinds := map[string]bool{}
	for _, m := range samples {
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", m, err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(%s): %v", b, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip of %#v gave %#v (%s)", m, got, b)
		}
		if kinds[m.Kind()] {
			t.Errorf("two message types share the kind %q", m.Kind())
		}
		kinds[m.Kind()] = true
	}
	for _, bad := range []string{"", "{", `{"kind":"from_the_future","data":{}}`, `{"kind":"user_ended","data":{"user_id":"x"}}`} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%q) succeeded", bad)
		}
	}
}

func TestLocalDeliversBeforePublishReturns(t *testing.T) {
	b := NewLocal()
	var order []string
	var got []Message
	b.Subscribe(func(m Message) { order = append(order, "first"); got = append(got, m) })
	b.Subscribe(func(Message) { order = append(order, "second") })
	ctx := context.Background()
	for _, m := range samples {
		if err := b.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(got, samples) {
		t.Fatalf("delivered %#v, want %#v", got, samples)
	}
	if strings.Join(order[:4], ",") != "first,second,first,second" {
		t.Fatalf("handlers ran in the order %v", order)
	}
	// A handler subscribing while a publish runs takes effect from the next message.
	late := 0
	b.Subscribe(func(Message) {
		if late == 0 {
			b.Subscribe(func(Message) { late++ })
		}
	})
	b.Publish(ctx, UniversesChanged{})
	b.Publish(ctx, UniversesChanged{})
	if late != 1 {
		t.Fatalf("a late subscriber heard %d messages, want 1", late)
	}
}
