package usermgmt_test

import (
	"testing"

	"github.com/usermgmt/usermgmt"
)

func TestListQueryMatches(t *testing.T) {
	ann := usermgmt.User{FirstName: "Ann", LastName: "O'Neill", Email: "ann.oneill@example.com",
		Role: usermgmt.RoleGeneral, Status: usermgmt.StatusActive}
	removed := ann
	removed.Status = usermgmt.StatusRemoved
	for _, c := range []struct {
		name string
		q    usermgmt.ListQuery
		u    usermgmt.User
		want bool
	}{
		{"no filters", usermgmt.ListQuery{}, ann, true},
		{"removed hidden by default", usermgmt.ListQuery{}, removed, false},
		{"removed when asked for", usermgmt.ListQuery{Statuses: []usermgmt.Status{usermgmt.StatusRemoved}}, removed, true},
		{"other status", usermgmt.ListQuery{Statuses: []usermgmt.Status{usermgmt.StatusLocked}}, ann, false},
		{"role", usermgmt.ListQuery{Roles: []string{usermgmt.RoleGeneral}}, ann, true},
		{"other role", usermgmt.ListQuery{Roles: []string{usermgmt.RoleAdmin}}, ann, false},
		{"first name, any case", usermgmt.ListQuery{Search: "an"}, ann, true},
		{"last name", usermgmt.ListQuery{Search: "o'ne"}, ann, true},
		{"email", usermgmt.ListQuery{Search: "@example"}, ann, true},
		{"no field holds it", usermgmt.ListQuery{Search: "lee"}, ann, false},
		{"not across two fields", usermgmt.ListQuery{Search: "ann\no'neill"}, ann, false},
		{"search and status together", usermgmt.ListQuery{Search: "ann"}, removed, false},
	} {
		if got := c.q.Matches(c.u); got != c.want {
			t.Errorf("%s: Matches = %v, want %v", c.name, got, c.want)
		}
	}
}
