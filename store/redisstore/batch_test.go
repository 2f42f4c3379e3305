package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/usermgmt/usermgmt"
)

// TestUpdateUsersLargeBatch: a batch larger than one script's share (the
// store runs 1,000 updates a script) is applied whole but for the updates
// that are refused, each refusal reported at its own index.
func TestUpdateUsersLargeBatch(t *testing.T) {
	s, first := seeded(t)
	ctx := context.Background()
	const n = 2500
	var cs []usermgmt.UserCreate
	for i := range n {
		u := first
		u.ID, u.Email, u.Role = fmt.Sprintf("u-batch-%04d", i), fmt.Sprintf("batch%04d@errors.example", i), usermgmt.RoleGeneral
		cs = append(cs, usermgmt.UserCreate{User: u, Event: event("ev-create-"+u.ID, u)})
	}
	if err := s.CreateUsers(ctx, cs); err != nil {
		t.Fatal(err)
	}
	ups := make([]usermgmt.UserUpdate, n)
	for i, c := range cs {
		u := c.User
		u.Status = usermgmt.StatusInactive
		ups[i] = usermgmt.UserUpdate{User: u, Event: event("ev-sweep-"+u.ID, u)}
	}
	ups[1200].User.Version = 9                    // stale
	ups[2100].Event.ID = "ev-create-u-batch-0007" // taken
	ups[999].User.Email = "batch1000@errors.example"
	ups[1000].User.Email = "batch0999@errors.example" // a swap within a batch: the first is refused
	errs, err := s.UpdateUsers(ctx, ups)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]error{1200: usermgmt.ErrConflict, 2100: usermgmt.ErrDuplicateID, 999: usermgmt.ErrDuplicateEmail, 1000: usermgmt.ErrDuplicateEmail}
	for i, e := range errs {
		if w := want[i]; (w == nil) != (e == nil) || (w != nil && !errors.Is(e, w)) {
			t.Fatalf("update %d: %v, want %v", i, e, w)
		}
	}
	l := checkLayout(t, s)
	inactive := 0
	for _, u := range l.users {
		if u.Status == usermgmt.StatusInactive {
			inactive++
		}
	}
	if inactive != n-len(want) {
		t.Fatalf("%d users inactive, want %d", inactive, n-len(want))
	}
}
