// Package wire reads the compact binary encodings that cross instances (the market
// snapshot, the bus's emissions): varints, bytes and floats from a byte slice, every
// length checked against what is left, so bytes that are not what they claim give an
// error, never a panic or an allocation larger than the input allows.
package wire

import (
	"encoding/binary"
	"math"
)

// Reader reads B from the front. It remembers the first failure in Err; after it every read
// gives a zero value, so a decoder checks Err once at the points where it matters.
type Reader struct {
	B     []byte
	Err   error
	Short error // the error a truncated or malformed input gives
}

// Fail records Short (unless an error is already recorded) and drops what is left.
func (r *Reader) Fail() {
	if r.Err == nil {
		r.Err = r.Short
	}
	r.B = nil
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	if len(r.B) > 0 && r.B[0] < 0x80 { // most figures fit in one byte
		v := uint64(r.B[0])
		r.B = r.B[1:]
		return v
	}
	v, n := binary.Uvarint(r.B)
	if n <= 0 {
		r.Fail()
		return 0
	}
	r.B = r.B[n:]
	return v
}

// Varint reads a signed varint.
func (r *Reader) Varint() int64 {
	v, n := binary.Varint(r.B)
	if n <= 0 {
		r.Fail()
		return 0
	}
	r.B = r.B[n:]
	return v
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if len(r.B) == 0 {
		r.Fail()
		return 0
	}
	c := r.B[0]
	r.B = r.B[1:]
	return c
}

// Bytes reads n bytes, sharing the input (capacity capped, so appends copy).
func (r *Reader) Bytes(n int) []byte {
	if n < 0 || n > len(r.B) {
		r.Fail()
		return nil
	}
	out := r.B[:n:n]
	r.B = r.B[n:]
	return out
}

// Float reads a float64, 8 bytes little endian.
func (r *Reader) Float() float64 {
	if len(r.B) < 8 {
		r.Fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.B))
	r.B = r.B[8:]
	return v
}

// Count reads a count of items that take at least min bytes each, refusing counts the
// rest of the input cannot hold.
func (r *Reader) Count(min int) int {
	c := r.Uvarint()
	if r.Err != nil {
		return 0
	}
	if c > uint64(len(r.B)/min) {
		r.Fail()
		return 0
	}
	return int(c)
}
