package market

import "math/bits"

// symTable maps symbol strings to SymbolIDs for the engine's hot path. It is an
// open-addressing table with linear probing, kept at most half full. A slot is 8 bytes (a
// hash tag and the ID), so the probe array of 10,000 symbols is 256 KiB and mostly cached;
// the name is then checked in a dense array, with a string compare that Go's runtime
// short-cuts when both strings share their bytes (feeds intern symbols, so they do). It
// replaces a map plus an address-keyed cache that needed package unsafe.
//
// A table is append-only. Once handed to a Snapshot it is shared: the engine copies the
// slots before the next insert (see Engine.Register). names is only ever appended to, so
// a copy may share it.
type symTable struct {
	slots   []symSlot // len is a power of two
	names   []string  // by ID
	lineage *int      // shared by a table and its copies: tells one engine's registry from another's
}

type symSlot struct {
	tag uint32   // the hash's high bits, never 0 (so 0 marks an empty slot)
	id  SymbolID //
}

func newSymTable(capacity int) *symTable {
	size := 64
	for size < 2*capacity {
		size *= 2
	}
	return &symTable{slots: make([]symSlot, size), names: make([]string, 0, capacity), lineage: new(int)}
}

// symHash mixes a symbol's bytes. Tickers are 1-16 bytes: they are packed into two words
// by overlapping loads (the whole string is covered, so with the length mixed in the packing
// is injective), which the compiler merges into one load each, so there is no byte loop.
// The words are then mixed by one full 64x64-bit multiply whose halves are folded
// together, so that every input bit reaches the low bits the table indexes by.
func symHash(s string) uint64 {
	var a, b uint64
	switch n := len(s); {
	case n > 16: // not a ticker, but the engine accepts any string
		a = 14695981039346656037
		for i := 0; i < n; i++ {
			a = (a ^ uint64(s[i])) * 1099511628211
		}
	case n >= 8:
		a, b = le64(s[:8]), le64(s[n-8:])
	case n >= 4:
		a = uint64(le32(s[:4])) | uint64(le32(s[n-4:]))<<32
	case n > 0:
		a = uint64(s[0]) | uint64(s[n/2])<<8 | uint64(s[n-1])<<16
	}
	hi, lo := bits.Mul64(a^0x9e3779b97f4a7c15, b^uint64(len(s))^0xc2b2ae3d27d4eb4f)
	return hi ^ lo
}

// le64 is the first 8 bytes of s as a little-endian word.
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// le32 is the first 4 bytes of s as a little-endian word.
func le32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// tagOf is the slot tag of hash h: its high half, with 0 reserved for empty slots.
func tagOf(h uint64) uint32 { return uint32(h>>32) | 1 }

// len is how many symbols the table holds.
func (t *symTable) len() int { return len(t.names) }

// get returns the ID of name.
func (t *symTable) get(name string) (SymbolID, bool) {
	h := symHash(name)
	mask := uint64(len(t.slots) - 1)
	tag := tagOf(h)
	for i := h & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s.tag == 0 {
			return 0, false
		}
		if s.tag == tag && t.names[s.id] == name {
			return s.id, true
		}
	}
}

// put adds name (which must be absent) as the next ID, growing the table when half full.
func (t *symTable) put(name string) SymbolID {
	id := SymbolID(len(t.names))
	t.names = append(t.names, name)
	if 2*len(t.names) > len(t.slots) {
		t.slots = make([]symSlot, 2*len(t.slots))
		for i, n := range t.names {
			t.insert(symHash(n), SymbolID(i))
		}
		return id
	}
	t.insert(symHash(name), id)
	return id
}

func (t *symTable) insert(h uint64, id SymbolID) {
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		if t.slots[i].tag == 0 {
			t.slots[i] = symSlot{tag: tagOf(h), id: id}
			return
		}
	}
}

// clone copies the slots, so inserts into the copy leave t as it was. The names are
// shared: the copy only appends past t's length.
func (t *symTable) clone() *symTable {
	return &symTable{slots: append([]symSlot(nil), t.slots...), names: t.names[:len(t.names):len(t.names)], lineage: t.lineage}
}
