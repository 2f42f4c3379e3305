package sqlitestore

import (
	"slices"
	"testing"
)

// TestDecodeStrings checks the fast path for plain string arrays against
// what encodeStrings writes, escapes and non-ASCII included.
func TestDecodeStrings(t *testing.T) {
	for _, ss := range [][]string{
		nil, {"a"}, {"0190a-b", "0190c-d"}, {""}, {"", "x"}, {`quo"te`, `back\slash`}, {"Zoë", "a,b", "<tag>"}, {"]", "["},
	} {
		enc := encodeStrings(ss)
		got, err := decodeStrings(enc)
		if err != nil || !slices.Equal(got, ss) {
			t.Errorf("decodeStrings(%s) = %q, %v; want %q", enc, got, err, ss)
		}
	}
	for _, bad := range []string{"[", `["a"`, `["a",]`, `["a" "b"]`, `[1]`} {
		if got, err := decodeStrings(bad); err == nil {
			t.Errorf("decodeStrings(%s) = %q, want an error", bad, got)
		}
	}
}
