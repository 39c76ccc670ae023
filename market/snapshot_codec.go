package market

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tickstock/tickstock/internal/wire"
)

// Snapshots cross instances: the feed leader encodes each emission's Snapshot onto the
// Redis bus, and every instance decodes it to compute its settings groups' market
// summaries. The encoding is compact and stateless (any one entry decodes alone):
//
//	'S' 1                                 magic and version
//	now, nextAt, baseStart                varints (Unix ms)
//	phase, next                           one byte each
//	n, then n × (len, bytes)              the symbol table's names, in SymbolID order
//	m, then m × figure                    figures by SymbolID (m ≤ n)
//
// A figure is uvarint 0 for a symbol with no tick in the current session, or
// uvarint(zigzag(start-now)+1) followed by highs, lows, t10, t60, t300 and tBase as
// uvarints of their uint32 bits. 10,000 symbols with figures take about 120 KB.

const (
	snapMagic   = 'S'
	snapVersion = 1
	// maxNameLen bounds one symbol name on the wire; the engine's symbols are at most
	// MaxSymbolLen, so this only guards the decoder against junk.
	maxNameLen = 255
)

var errSnapshotShort = errors.New("market: decode snapshot: truncated")

// AppendBinary appends s's encoding to b (encoding.BinaryAppender). A nil Snapshot cannot
// be encoded; callers send "no snapshot" their own way.
func (s *Snapshot) AppendBinary(b []byte) ([]byte, error) {
	if s == nil {
		return b, errors.New("market: encode snapshot: nil snapshot")
	}
	b = append(b, snapMagic, snapVersion)
	b = binary.AppendVarint(b, int64(s.Now))
	b = binary.AppendVarint(b, int64(s.nextAt))
	b = binary.AppendVarint(b, s.baseStart)
	b = append(b, byte(s.Phase), byte(s.next))
	var names []string
	if s.tab != nil {
		names = s.tab.names
	}
	if len(s.figs) > len(names) {
		return b, fmt.Errorf("market: encode snapshot: %d figures for %d symbols", len(s.figs), len(names))
	}
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, n := range names {
		if len(n) > maxNameLen {
			return b, fmt.Errorf("market: encode snapshot: symbol %.20q… is longer than %d bytes", n, maxNameLen)
		}
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
	}
	b = binary.AppendUvarint(b, uint64(len(s.figs)))
	for i := range s.figs {
		f := &s.figs[i]
		if f.start == 0 {
			b = append(b, 0)
			continue
		}
		b = binary.AppendUvarint(b, zigzag(f.start-int64(s.Now))+1)
		for _, v := range [...]int32{f.highs, f.lows, f.t10, f.t60, f.t300, f.tBase} {
			b = binary.AppendUvarint(b, uint64(uint32(v)))
		}
	}
	return b, nil
}

// SnapshotDecoder decodes snapshots one after another. It keeps the last symbol table and
// reuses it while the names stay the same (the leader's table only grows), so decoding an
// emission allocates no strings and market.Selection's per-table caches stay valid. It is
// not safe for concurrent use; the snapshots it returns are.
type SnapshotDecoder struct {
	tab   *symTable
	names []nameSpan // scratch: where the names of the snapshot being decoded are
	in    []byte     // the input being decoded
}

// nameSpan locates one name in the input: plain offsets, so the scratch holds no pointers
// (no write barriers while 10,000 names are read).
type nameSpan struct{ from, to uint32 }

func (d *SnapshotDecoder) name(i int) []byte { return d.in[d.names[i].from:d.names[i].to] }

// Decode reads what AppendBinary wrote. It checks every length against the input, so
// junk from the wire gives an error, never a panic or a large allocation.
func (d *SnapshotDecoder) Decode(b []byte) (*Snapshot, error) {
	if len(b) > 1<<31 {
		return nil, errors.New("market: decode snapshot: too large")
	}
	r := wire.Reader{B: b, Short: errSnapshotShort}
	if len(b) < 2 || b[0] != snapMagic {
		return nil, errors.New("market: decode snapshot: not a snapshot")
	}
	if b[1] != snapVersion {
		return nil, fmt.Errorf("market: decode snapshot: unknown version %d", b[1])
	}
	r.B = b[2:]
	s := &Snapshot{}
	s.Now = Millis(r.Varint())
	s.nextAt = Millis(r.Varint())
	s.baseStart = r.Varint()
	s.Phase, s.next = Phase(r.Byte()), Phase(r.Byte())
	if r.Err == nil && (int(s.Phase) >= len(phaseNames) || int(s.next) >= len(phaseNames)) {
		return nil, errors.New("market: decode snapshot: unknown phase")
	}
	n := r.Count(1)
	d.names, d.in = d.names[:0], b
	defer func() { d.in = nil }()
	for range n {
		l := r.Uvarint()
		if r.Err == nil && (l == 0 || l > maxNameLen) {
			return nil, fmt.Errorf("market: decode snapshot: symbol name of %d bytes", l)
		}
		from := uint32(len(b) - len(r.B))
		r.Bytes(int(l))
		d.names = append(d.names, nameSpan{from, from + uint32(l)})
	}
	m := r.Count(1)
	if r.Err == nil && m > n {
		return nil, fmt.Errorf("market: decode snapshot: %d figures for %d symbols", m, n)
	}
	if r.Err != nil {
		return nil, r.Err
	}
	s.figs = make([]symFigs, m)
	for i := range s.figs {
		x := r.Uvarint()
		if x == 0 {
			continue
		}
		f := &s.figs[i]
		f.start = int64(s.Now) + unzigzag(x-1)
		if r.Err == nil && f.start == 0 {
			return nil, errors.New("market: decode snapshot: session start at 0")
		}
		for _, v := range [...]*int32{&f.highs, &f.lows, &f.t10, &f.t60, &f.t300, &f.tBase} {
			u := r.Uvarint()
			if u > 1<<32-1 {
				return nil, errors.New("market: decode snapshot: figure out of range")
			}
			*v = int32(uint32(u))
		}
	}
	if r.Err != nil {
		return nil, r.Err
	}
	if len(r.B) != 0 {
		return nil, fmt.Errorf("market: decode snapshot: %d bytes left over", len(r.B))
	}
	tab, err := d.table()
	if err != nil {
		return nil, err
	}
	s.tab = tab
	return s, nil
}

// table returns a symbol table holding d.names in order: the last one when it holds the
// same names, a copy of it extended when the names only grew, or a new one.
func (d *SnapshotDecoder) table() (*symTable, error) {
	t := d.tab
	if t != nil && t.len() <= len(d.names) {
		for i, n := range t.names {
			if string(d.name(i)) != n {
				t = nil
				break
			}
		}
	} else {
		t = nil
	}
	switch {
	case t != nil && t.len() == len(d.names):
		return t, nil
	case t != nil:
		t = t.clone()
	default:
		t = newSymTable(len(d.names))
	}
	for i := t.len(); i < len(d.names); i++ {
		name := string(d.name(i))
		if _, dup := t.get(name); dup {
			return nil, fmt.Errorf("market: decode snapshot: symbol %q twice", name)
		}
		t.put(name)
	}
	d.tab = t
	return t, nil
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }
