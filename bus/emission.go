package bus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/tickstock/tickstock/market"
)

// Emission is one emission of the feed leader as it travels to every instance: the events
// detected since the previous one and the market figures at that moment, numbered by the
// leader and fenced by its lease token.
type Emission struct {
	// Token is the fencing token of the lease the leader held when it made the emission.
	// It only grows from one leader to the next, so a receiver drops what a deposed
	// leader sends late.
	Token uint64
	// Seq numbers the emission (and so every SSE id made of it). It increases by one per
	// emission under one token, so a receiver can tell a gap.
	Seq uint64
	// At is when the leader made the emission, in Unix ms; every instance stamps its
	// rendering with it, so all of them send the same bytes.
	At int64
	// FeedError is set once the leader's feed has stopped for good (a rejected key, a
	// replay that ended): every instance's /readyz reports it.
	FeedError string
	Events    []market.Event
	Snapshot  *market.Snapshot // nil: no figures
}

// The emission wire format (version 1). Integers are varints, floats 8 bytes little
// endian:
//
//	'E' 1 | token | seq | at | len(feed error) feed error | n | n × event | 0, or 1 snapshot
//
// An event is its kind byte, symbol (length, bytes), price, time, phase, then by kind:
//
//	high, low: count, count_up, count_down, volume, pct_change, session_high, session_low, reversal
//	trend:     direction, strength, score, short, medium, long, age_seconds
//	surge:     direction, strength, trigger, magnitude_pct, volume_multiple
//
// A high event takes about 60 bytes; 10,000 events about 600 KB. The snapshot is
// market.Snapshot.AppendBinary's encoding, to the end of the message.
const (
	emissionMagic   = 'E'
	emissionVersion = 1
	// MaxEmissionEvents bounds the events of one emission on the wire: the leader splits a
	// larger burst over several emissions, so one Redis entry stays under about 1 MB.
	MaxEmissionEvents = 10_000
	minEventBytes     = 1 + 2 + 8 + 1 + 1 + 3 // kind, symbol, price, time, phase, the least of a kind's fields
)

// AppendEmission appends e's encoding to b.
func AppendEmission(b []byte, e *Emission) ([]byte, error) {
	if len(e.Events) > MaxEmissionEvents {
		return b, fmt.Errorf("bus: encode emission: %d events, over %d", len(e.Events), MaxEmissionEvents)
	}
	b = append(b, emissionMagic, emissionVersion)
	b = binary.AppendUvarint(b, e.Token)
	b = binary.AppendUvarint(b, e.Seq)
	b = binary.AppendVarint(b, e.At)
	fe := e.FeedError
	if len(fe) > maxFeedError {
		fe = fe[:maxFeedError]
	}
	b = appendString(b, fe)
	b = binary.AppendUvarint(b, uint64(len(e.Events)))
	for i := range e.Events {
		var err error
		if b, err = appendEvent(b, &e.Events[i]); err != nil {
			return b, err
		}
	}
	if e.Snapshot == nil {
		return append(b, 0), nil
	}
	b = append(b, 1)
	return e.Snapshot.AppendBinary(b)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendFloat(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

func appendEvent(b []byte, e *market.Event) ([]byte, error) {
	b = append(b, byte(e.Kind))
	sym := e.Symbol()
	if len(sym) == 0 || len(sym) > maxSymbol {
		return b, fmt.Errorf("bus: encode emission: symbol %.20q has %d bytes", sym, len(sym))
	}
	b = appendString(b, sym)
	b = appendFloat(b, e.Price())
	b = binary.AppendVarint(b, int64(e.Time()))
	b = append(b, byte(e.Phase()))
	switch e.Kind {
	case market.KindHigh, market.KindLow:
		h := &e.HighLow
		b = binary.AppendVarint(b, int64(h.Count))
		b = binary.AppendVarint(b, int64(h.CountUp))
		b = binary.AppendVarint(b, int64(h.CountDown))
		b = binary.AppendVarint(b, h.Volume)
		b = appendFloat(b, h.PctChange)
		b = appendFloat(b, h.SessionHigh)
		b = appendFloat(b, h.SessionLow)
		b = append(b, b2u(h.Reversal))
	case market.KindTrend:
		t := &e.Trend
		b = append(b, byte(t.Direction), byte(t.Strength))
		b = appendFloat(b, t.Score)
		b = appendFloat(b, t.Short)
		b = appendFloat(b, t.Medium)
		b = appendFloat(b, t.Long)
		b = binary.AppendVarint(b, t.AgeSeconds)
	case market.KindSurge:
		s := &e.Surge
		b = append(b, byte(s.Direction), byte(s.Strength), byte(s.Trigger))
		b = appendFloat(b, s.MagnitudePct)
		b = appendFloat(b, s.VolumeMultiple)
	default:
		return b, fmt.Errorf("bus: encode emission: event of unknown kind %d", e.Kind)
	}
	return b, nil
}

// maxFeedError bounds the feed error's text on the wire.
const maxFeedError = 1024

// maxSymbol bounds a symbol on the wire (the engine's are at most market.MaxSymbolLen).
const maxSymbol = 64

func b2u(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// EmissionDecoder decodes the emissions of the bus one after another: it keeps the
// snapshot decoder's symbol table and the symbol strings of earlier events, so a steady
// stream of emissions allocates little beyond the event slices. It is not safe for
// concurrent use; the emissions it returns are, and share nothing with the input bytes.
type EmissionDecoder struct {
	snaps  market.SnapshotDecoder
	intern map[string]string
}

// maxInterned bounds the decoder's symbol strings; past it they are forgotten and
// collected again.
const maxInterned = 100_000

var errEmissionShort = errors.New("bus: decode emission: truncated")

// Decode reads what AppendEmission wrote. It checks every length and value against the
// input, so bytes from the wire that are not an emission give an error, never a panic or
// an allocation larger than the input allows (FuzzDecodeEmission).
func (d *EmissionDecoder) Decode(b []byte) (*Emission, error) {
	if len(b) < 2 || b[0] != emissionMagic {
		return nil, errors.New("bus: decode emission: not an emission")
	}
	if b[1] != emissionVersion {
		return nil, fmt.Errorf("bus: decode emission: unknown version %d", b[1])
	}
	r := reader{b: b[2:]}
	e := &Emission{Token: r.uvarint(), Seq: r.uvarint(), At: r.varint()}
	if fl := r.uvarint(); fl > maxFeedError {
		return nil, errors.New("bus: decode emission: feed error too long")
	} else if fe := r.bytes(int(fl)); len(fe) > 0 {
		e.FeedError = string(fe)
	}
	n := r.uvarint()
	if r.err == nil && (n > MaxEmissionEvents || n > uint64(len(r.b)/minEventBytes)) {
		return nil, fmt.Errorf("bus: decode emission: %d events do not fit", n)
	}
	if r.err != nil {
		return nil, r.err
	}
	if n > 0 {
		e.Events = make([]market.Event, n)
	}
	for i := range e.Events {
		if err := d.event(&r, &e.Events[i]); err != nil {
			return nil, fmt.Errorf("bus: decode emission: event %d: %w", i, err)
		}
	}
	switch r.byte() {
	case 0:
		if r.err == nil && len(r.b) != 0 {
			return nil, fmt.Errorf("bus: decode emission: %d bytes left over", len(r.b))
		}
	case 1:
		if r.err != nil {
			break
		}
		snap, err := d.snaps.Decode(r.b)
		if err != nil {
			return nil, fmt.Errorf("bus: decode emission: %w", err)
		}
		e.Snapshot = snap
	default:
		return nil, errors.New("bus: decode emission: bad snapshot flag")
	}
	if r.err != nil {
		return nil, r.err
	}
	return e, nil
}

func (d *EmissionDecoder) symbol(b []byte) string {
	if s, ok := d.intern[string(b)]; ok {
		return s
	}
	if d.intern == nil || len(d.intern) >= maxInterned {
		d.intern = make(map[string]string)
	}
	s := string(b)
	d.intern[s] = s
	return s
}

func (d *EmissionDecoder) event(r *reader, e *market.Event) error {
	kind := market.EventKind(r.byte())
	l := r.uvarint()
	if r.err == nil && (l == 0 || l > maxSymbol) {
		return fmt.Errorf("symbol of %d bytes", l)
	}
	symb := r.bytes(int(l))
	price := r.float()
	tm := market.Millis(r.varint())
	phase := market.Phase(r.byte())
	if r.err != nil {
		return r.err
	}
	if phase > market.PhaseAfter {
		return fmt.Errorf("unknown phase %d", phase)
	}
	sym := d.symbol(symb)
	*e = market.Event{Kind: kind}
	switch kind {
	case market.KindHigh, market.KindLow:
		e.HighLow = market.HighLowEvent{Kind: kind, Symbol: sym, Price: price, Time: tm, Phase: phase,
			Count: int(r.varint()), CountUp: int(r.varint()), CountDown: int(r.varint()), Volume: r.varint(),
			PctChange: r.float(), SessionHigh: r.float(), SessionLow: r.float()}
		switch r.byte() {
		case 0:
		case 1:
			e.HighLow.Reversal = true
		default:
			return errors.New("bad reversal flag")
		}
	case market.KindTrend:
		dir, st := direction(r.byte()), market.Strength(r.byte())
		e.Trend = market.TrendEvent{Symbol: sym, Price: price, Time: tm, Phase: phase, Direction: dir, Strength: st,
			Score: r.float(), Short: r.float(), Medium: r.float(), Long: r.float(), AgeSeconds: r.varint()}
		if r.err == nil && (dir == 0 || st > market.StrengthStrong) {
			return errors.New("bad trend direction or strength")
		}
	case market.KindSurge:
		dir, st, tr := direction(r.byte()), market.Strength(r.byte()), market.Trigger(r.byte())
		e.Surge = market.SurgeEvent{Symbol: sym, Price: price, Time: tm, Phase: phase, Direction: dir, Strength: st,
			Trigger: tr, MagnitudePct: r.float(), VolumeMultiple: r.float()}
		if r.err == nil && (dir == 0 || st > market.StrengthStrong || tr < market.TriggerPriceAndVolume || tr > market.TriggerVolume) {
			return errors.New("bad surge direction, strength or trigger")
		}
	default:
		return fmt.Errorf("unknown kind %d", kind)
	}
	return r.err
}

// direction reads a direction byte: up or down; anything else is 0, which callers refuse.
func direction(c byte) market.Direction {
	switch market.Direction(int8(c)) {
	case market.Up:
		return market.Up
	case market.Down:
		return market.Down
	}
	return 0
}

// reader reads the wire format, remembering the first error; after it every read gives
// zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errEmissionShort
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	if len(r.b) > 0 && r.b[0] < 0x80 {
		v := uint64(r.b[0])
		r.b = r.b[1:]
		return v
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.fail()
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) float() float64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}
