package redisstore

import (
	"errors"
	"strings"
)

// A user's record is stored as one msgpack map of strings (the field rec
// of its hash): Go reads it in one bulk string and slices its values
// without copying, and Lua reads and writes it with Redis's built-in
// cmsgpack. Only the few msgpack forms this store writes are read back:
// maps and strings (and bin, which some msgpack writers use for strings).

// writeMsgpackMap writes the header of a map of n pairs.
func writeMsgpackMap(b *strings.Builder, n int) {
	switch {
	case n < 16:
		b.WriteByte(0x80 | byte(n))
	case n < 1<<16:
		b.Write([]byte{0xde, byte(n >> 8), byte(n)})
	default:
		b.Write([]byte{0xdf, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	}
}

// writeMsgpackString writes s as a msgpack raw string (fixstr, str16 or
// str32: the forms every cmsgpack version reads).
func writeMsgpackString(b *strings.Builder, s string) {
	switch n := len(s); {
	case n < 32:
		b.WriteByte(0xa0 | byte(n))
	case n < 1<<16:
		b.Write([]byte{0xda, byte(n >> 8), byte(n)})
	default:
		b.Write([]byte{0xdb, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	}
	b.WriteString(s)
}

var errMsgpack = errors.New("redisstore: a stored record is not a msgpack map of strings")

// msgpackReader reads a msgpack map of strings from a string, returning
// its keys and values as substrings of it (no copies).
type msgpackReader struct {
	s   string
	i   int
	err error
}

// uint reads an n-byte big-endian length.
func (r *msgpackReader) uint(n int) int {
	if r.i+n > len(r.s) {
		r.err = errMsgpack
		return 0
	}
	v := 0
	for _, c := range []byte(r.s[r.i : r.i+n]) {
		v = v<<8 | int(c)
	}
	r.i += n
	return v
}

func (r *msgpackReader) byte() byte {
	if r.i >= len(r.s) {
		r.err = errMsgpack
		return 0
	}
	c := r.s[r.i]
	r.i++
	return c
}

// mapLen reads a map header.
func (r *msgpackReader) mapLen() int {
	switch c := r.byte(); {
	case c&0xf0 == 0x80:
		return int(c & 0x0f)
	case c == 0xde:
		return r.uint(2)
	case c == 0xdf:
		return r.uint(4)
	}
	r.err = errMsgpack
	return 0
}

// str reads a string (or bin).
func (r *msgpackReader) str() string {
	n := 0
	switch c := r.byte(); {
	case c&0xe0 == 0xa0:
		n = int(c & 0x1f)
	case c == 0xd9 || c == 0xc4:
		n = r.uint(1)
	case c == 0xda || c == 0xc5:
		n = r.uint(2)
	case c == 0xdb || c == 0xc6:
		n = r.uint(4)
	default:
		r.err = errMsgpack
	}
	if r.err != nil || r.i+n > len(r.s) {
		r.err = errMsgpack
		return ""
	}
	v := r.s[r.i : r.i+n]
	r.i += n
	return v
}
