package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/httpapi"
	"github.com/usermgmt/usermgmt/internal/fixture"
)

func TestInvitations(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: "POST", path: base + "/invitations", as: e.admin.ID, body: map[string]any{
		"email": "ivy@example.com", "first_name": "Ivy", "last_name": "Invitee", "reason": "new hire"}})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var c httpapi.CreatedResponse
	r.json(&c)
	require.Equal(t, usermgmt.StatusInvited, c.User.Status)
	require.Empty(t, c.InvitationToken)
	require.NotEmpty(t, e.token(usermgmt.NotifyInvitation, "ivy@example.com"), "the invitation was mailed")

	e.do(req{method: "POST", path: base + "/invitations", as: e.admin.ID, body: map[string]any{
		"email": "ivy@example.com", "first_name": "I", "last_name": "V"}}).refused(http.StatusConflict, "duplicate_email")
	e.do(req{method: "POST", path: base + "/invitations", as: e.admin.ID, body: map[string]any{
		"email": "pw@example.com", "first_name": "I", "last_name": "V", "password": fixture.Password}}).refused(http.StatusUnprocessableEntity, "invalid_input")

	var p struct {
		Items []usermgmt.Invitation `json:"items"`
	}
	e.do(req{method: "GET", path: base + "/invitations", as: e.admin.ID}).json(&p)
	require.Len(t, p.Items, 1)
	require.Equal(t, c.User.ID, p.Items[0].UserID)
	require.Empty(t, p.Items[0].Token)
	e.do(req{method: "GET", path: base + "/invitations?cursor=x", as: e.admin.ID}).refused(http.StatusBadRequest, "invalid_cursor")

	// Resend: a new token, mailed; the response keeps it to itself.
	old := e.get(c.User.ID).Version
	var inv usermgmt.Invitation
	r = e.do(req{method: "POST", path: base + "/invitations/" + c.User.ID + "/resend", as: e.admin.ID, body: map[string]any{}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r.json(&inv)
	require.Empty(t, inv.Token)
	require.Greater(t, e.get(c.User.ID).Version, old)
	e.unchanged(c.User.ID, func() {
		e.do(req{method: "POST", path: base + "/invitations/" + c.User.ID + "/resend", as: e.admin.ID, body: map[string]any{}, header: map[string]string{"If-Match": `"1"`}}).refused(http.StatusPreconditionFailed, "precondition_failed")
	})
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	e.unchanged(g.ID, func() {
		e.do(req{method: "POST", path: base + "/invitations/" + g.ID + "/resend", as: e.admin.ID, body: map[string]any{}}).refused(http.StatusConflict, "invalid_transition")
		e.do(req{method: "DELETE", path: base + "/invitations/" + g.ID, as: e.admin.ID}).refused(http.StatusConflict, "invalid_transition")
	})
	e.do(req{method: "POST", path: base + "/invitations/nope/resend", as: e.admin.ID, body: map[string]any{}}).refused(http.StatusNotFound, "not_found")

	// Revoke removes the invited user.
	u := e.do(req{method: "DELETE", path: base + "/invitations/" + c.User.ID, as: e.admin.ID, body: map[string]any{"reason": "changed plans"}}).user()
	require.Equal(t, usermgmt.StatusRemoved, u.Status)
	require.Equal(t, "changed plans", e.events(c.User.ID)[0].Reason)
}

func TestBulkInvite(t *testing.T) {
	e := newEnv(t)
	e.user(e.root.ID, "taken@example.com", usermgmt.RoleGeneral)
	body := map[string]any{"rows": []map[string]any{
		{"email": "one@example.com", "first_name": "One"},
		{"email": "taken@example.com"},
		{"email": "ONE@example.com"},
		{"email": "not-an-address"},
		{"email": "x@mailinator.com"},
		{"email": "role@example.com", "role": "emperor"},
	}}
	want := []usermgmt.InviteOutcome{usermgmt.Invited, usermgmt.SkippedExists, usermgmt.SkippedDuplicate,
		usermgmt.RejectedInvalid, usermgmt.RejectedDisposable, usermgmt.Rejected}
	outcomes := func(r httpapi.BulkInviteResponse) []usermgmt.InviteOutcome {
		var out []usermgmt.InviteOutcome
		for _, x := range r.Results {
			out = append(out, x.Outcome)
		}
		return out
	}
	// A dry run writes nothing.
	body["dry_run"] = true
	var dry httpapi.BulkInviteResponse
	r := e.do(req{method: "POST", path: base + "/invitations/bulk", as: e.admin.ID, body: body})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r.json(&dry)
	require.True(t, dry.DryRun)
	require.Equal(t, want, outcomes(dry))
	_, err := e.m.UserByEmail(e.ctx, usermgmt.System, "one@example.com")
	require.ErrorIs(t, err, usermgmt.ErrNotFound)

	body["dry_run"] = false
	var run httpapi.BulkInviteResponse
	e.do(req{method: "POST", path: base + "/invitations/bulk", as: e.admin.ID, body: body}).json(&run)
	require.Equal(t, want, outcomes(run))
	require.Equal(t, "unknown_role", run.Results[5].Code)
	one, err := e.m.UserByEmail(e.ctx, usermgmt.System, "one@example.com")
	require.NoError(t, err)
	require.Equal(t, one.ID, run.Results[0].UserID)

	e.do(req{method: "POST", path: base + "/invitations/bulk", as: e.admin.ID, body: map[string]any{}}).refused(http.StatusUnprocessableEntity, "invalid_input")
	e.do(req{method: "POST", path: base + "/invitations/bulk", as: e.admin.ID, body: map[string]any{"rows": []map[string]any{{"email": "a@example.com", "age": 3}}}}).refused(http.StatusBadRequest, "invalid_body")
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	e.do(req{method: "POST", path: base + "/invitations/bulk", as: g.ID, body: map[string]any{"rows": []map[string]any{{"email": "b@example.com"}}}}).refused(http.StatusForbidden, "permission_denied")
	_, err = e.m.UserByEmail(e.ctx, usermgmt.System, "b@example.com")
	require.ErrorIs(t, err, usermgmt.ErrNotFound)
}

// failing is a Sender that refuses every message for good.
type failing struct{}

func (failing) Send(context.Context, usermgmt.Notification) error {
	return usermgmt.Permanent(errors.New("550 mailbox unavailable"))
}

func TestDeadMessages(t *testing.T) {
	e := newEnv(t)
	e.invited(e.root.ID, "bounce@example.com")
	_, err := e.m.DeliverDue(e.ctx, usermgmt.DeliveryOptions{Sender: failing{}})
	require.NoError(t, err)

	var p struct {
		Items []usermgmt.DeadMessage `json:"items"`
	}
	e.do(req{method: "GET", path: base + "/messages/dead", as: e.admin.ID}).json(&p)
	require.Len(t, p.Items, 1)
	require.Equal(t, "bounce@example.com", p.Items[0].To)
	e.do(req{method: "GET", path: base + "/messages/dead?limit=x", as: e.admin.ID}).refused(http.StatusBadRequest, "invalid_query")
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	e.do(req{method: "GET", path: base + "/messages/dead", as: g.ID}).refused(http.StatusForbidden, "permission_denied")

	// A sub-account's admin neither sees nor requeues the root's letters.
	_, sa := e.sub(e.root.ID, "Client B", "b-admin@example.com")
	e.do(req{method: "GET", path: base + "/messages/dead", as: sa.ID}).json(&p)
	require.Empty(t, p.Items)
	id := func() string {
		var q struct {
			Items []usermgmt.DeadMessage `json:"items"`
		}
		e.do(req{method: "GET", path: base + "/messages/dead", as: e.admin.ID}).json(&q)
		require.Len(t, q.Items, 1)
		return q.Items[0].ID
	}()
	e.do(req{method: "POST", path: base + "/messages/dead/" + id + "/requeue", as: sa.ID, body: map[string]any{}}).refused(http.StatusNotFound, "not_found")
	e.do(req{method: "POST", path: base + "/messages/dead/nope/requeue", as: e.admin.ID, body: map[string]any{}}).refused(http.StatusNotFound, "not_found")

	r := e.do(req{method: "POST", path: base + "/messages/dead/" + id + "/requeue", as: e.admin.ID, body: map[string]any{}})
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	e.do(req{method: "GET", path: base + "/messages/dead", as: e.admin.ID}).json(&p)
	require.Empty(t, p.Items)
	e.clock.Advance(time.Second)
	require.NotEmpty(t, e.token(usermgmt.NotifyInvitation, "bounce@example.com"), "the requeued invitation went out")
}
