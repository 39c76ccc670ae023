package market

// symTable maps symbol strings to SymbolIDs for the engine's hot path. It is an
// open-addressing table with linear probing, kept at most half full, whose slots hold the
// name itself: a lookup is one hash of a few bytes, usually one slot, and a string compare
// that Go's runtime short-cuts when both strings share their bytes (feeds intern symbols,
// so they do). It replaces a map plus an address-keyed cache that needed package unsafe.
//
// A table is append-only. Once handed to a Snapshot it is shared and must not change; the
// engine copies it before the next insert (see Engine.Register).
type symTable struct {
	slots   []symSlot // len is a power of two
	n       int
	lineage *int // shared by a table and its clones: tells one engine's registry from another's
}

type symSlot struct {
	name string
	tag  uint32   // the hash's high bits, so most mismatches skip the string compare
	id   SymbolID // id+1: 0 marks an empty slot
}

func newSymTable(capacity int) *symTable {
	size := 64
	for size < 2*capacity {
		size *= 2
	}
	return &symTable{slots: make([]symSlot, size), lineage: new(int)}
}

// symHash mixes a symbol's bytes. Tickers are 1-16 bytes: they are packed into two words
// without a loop-carried multiply, then mixed once.
func symHash(s string) uint64 {
	var a, b uint64
	if len(s) <= 16 {
		for i := 0; i < len(s) && i < 8; i++ {
			a |= uint64(s[i]) << (8 * i)
		}
		for i := 8; i < len(s); i++ {
			b |= uint64(s[i]) << (8 * (i - 8))
		}
	} else { // not a ticker, but the engine accepts any string
		a = 14695981039346656037
		for i := 0; i < len(s); i++ {
			a = (a ^ uint64(s[i])) * 1099511628211
		}
	}
	h := (a^uint64(len(s)))*0x9e3779b97f4a7c15 ^ b*0xc2b2ae3d27d4eb4f
	return h ^ h>>31
}

// get returns the ID of name.
func (t *symTable) get(name string) (SymbolID, bool) {
	h := symHash(name)
	mask := uint64(len(t.slots) - 1)
	tag := uint32(h >> 32)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.id == 0 {
			return 0, false
		}
		if s.tag == tag && s.name == name {
			return s.id - 1, true
		}
	}
}

// put adds name (which must be absent) with id, growing the table when half full.
func (t *symTable) put(name string, id SymbolID) {
	if 2*(t.n+1) > len(t.slots) {
		old := t.slots
		t.slots = make([]symSlot, 2*len(old))
		for _, s := range old {
			if s.id != 0 {
				t.insert(s)
			}
		}
	}
	h := symHash(name)
	t.insert(symSlot{name: name, tag: uint32(h >> 32), id: id + 1})
	t.n++
}

func (t *symTable) insert(s symSlot) {
	mask := uint64(len(t.slots) - 1)
	for i := symHash(s.name) & mask; ; i = (i + 1) & mask {
		if t.slots[i].id == 0 {
			t.slots[i] = s
			return
		}
	}
}

func (t *symTable) clone() *symTable {
	return &symTable{slots: append([]symSlot(nil), t.slots...), n: t.n, lineage: t.lineage}
}
