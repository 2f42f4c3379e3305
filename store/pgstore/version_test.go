package pgstore

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// FinishAttempt's one-round-trip write (finishReserved) trusts that every
// write of a users row raises its version: a statement of this package
// that updates users without it would let an outcome overwrite that write.
func TestEveryUserUpdateRaisesTheVersion(t *testing.T) {
	q := newQueries(`"s"`)
	update := regexp.MustCompile(`(?i)UPDATE\s+"s"\.users\b`)
	v := reflect.ValueOf(q)
	found := 0
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() != reflect.String || !update.MatchString(f.String()) {
			continue
		}
		sql := f.String()
		found++
		if !strings.Contains(sql, "version = version + 1") && !strings.Contains(sql, "version = u.version + 1") {
			t.Errorf("queries.%s updates users without raising the version:\n%s", v.Type().Field(i).Name, sql)
		}
	}
	if found < 4 {
		t.Fatalf("found %d statements updating users, want at least 4 (updateUser, updateUsers, reserve, recordActivity)", found)
	}
}
