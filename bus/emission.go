package bus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	binwire "github.com/tickstock/tickstock/internal/wire"
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
	r := binwire.Reader{B: b[2:], Short: errEmissionShort}
	e := &Emission{Token: r.Uvarint(), Seq: r.Uvarint(), At: r.Varint()}
	if fl := r.Uvarint(); fl > maxFeedError {
		return nil, errors.New("bus: decode emission: feed error too long")
	} else if fe := r.Bytes(int(fl)); len(fe) > 0 {
		e.FeedError = string(fe)
	}
	n := r.Uvarint()
	if r.Err == nil && (n > MaxEmissionEvents || n > uint64(len(r.B)/minEventBytes)) {
		return nil, fmt.Errorf("bus: decode emission: %d events do not fit", n)
	}
	if r.Err != nil {
		return nil, r.Err
	}
	if n > 0 {
		e.Events = make([]market.Event, n)
	}
	for i := range e.Events {
		if err := d.event(&r, &e.Events[i]); err != nil {
			return nil, fmt.Errorf("bus: decode emission: event %d: %w", i, err)
		}
	}
	switch r.Byte() {
	case 0:
		if r.Err == nil && len(r.B) != 0 {
			return nil, fmt.Errorf("bus: decode emission: %d bytes left over", len(r.B))
		}
	case 1:
		if r.Err != nil {
			break
		}
		snap, err := d.snaps.Decode(r.B)
		if err != nil {
			return nil, fmt.Errorf("bus: decode emission: %w", err)
		}
		e.Snapshot = snap
	default:
		return nil, errors.New("bus: decode emission: bad snapshot flag")
	}
	if r.Err != nil {
		return nil, r.Err
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

func (d *EmissionDecoder) event(r *binwire.Reader, e *market.Event) error {
	kind := market.EventKind(r.Byte())
	l := r.Uvarint()
	if r.Err == nil && (l == 0 || l > maxSymbol) {
		return fmt.Errorf("symbol of %d bytes", l)
	}
	symb := r.Bytes(int(l))
	price := r.Float()
	tm := market.Millis(r.Varint())
	phase := market.Phase(r.Byte())
	if r.Err != nil {
		return r.Err
	}
	if phase > market.PhaseAfter {
		return fmt.Errorf("unknown phase %d", phase)
	}
	sym := d.symbol(symb)
	*e = market.Event{Kind: kind}
	switch kind {
	case market.KindHigh, market.KindLow:
		e.HighLow = market.HighLowEvent{Kind: kind, Symbol: sym, Price: price, Time: tm, Phase: phase,
			Count: int(r.Varint()), CountUp: int(r.Varint()), CountDown: int(r.Varint()), Volume: r.Varint(),
			PctChange: r.Float(), SessionHigh: r.Float(), SessionLow: r.Float()}
		switch r.Byte() {
		case 0:
		case 1:
			e.HighLow.Reversal = true
		default:
			return errors.New("bad reversal flag")
		}
	case market.KindTrend:
		dir, st := direction(r.Byte()), market.Strength(r.Byte())
		e.Trend = market.TrendEvent{Symbol: sym, Price: price, Time: tm, Phase: phase, Direction: dir, Strength: st,
			Score: r.Float(), Short: r.Float(), Medium: r.Float(), Long: r.Float(), AgeSeconds: r.Varint()}
		if r.Err == nil && (dir == 0 || st > market.StrengthStrong) {
			return errors.New("bad trend direction or strength")
		}
	case market.KindSurge:
		dir, st, tr := direction(r.Byte()), market.Strength(r.Byte()), market.Trigger(r.Byte())
		e.Surge = market.SurgeEvent{Symbol: sym, Price: price, Time: tm, Phase: phase, Direction: dir, Strength: st,
			Trigger: tr, MagnitudePct: r.Float(), VolumeMultiple: r.Float()}
		if r.Err == nil && (dir == 0 || st > market.StrengthStrong || tr < market.TriggerPriceAndVolume || tr > market.TriggerVolume) {
			return errors.New("bad surge direction, strength or trigger")
		}
	default:
		return fmt.Errorf("unknown kind %d", kind)
	}
	return r.Err
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
