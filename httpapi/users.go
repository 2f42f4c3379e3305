package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/usermgmt/usermgmt"
)

// Request bodies of the user routes. Each may carry a reason, recorded on
// the change's audit event (it takes precedence over the X-Reason header).

// NewUserRequest is the body of POST /users.
type NewUserRequest struct {
	usermgmt.NewUser
	Reason string `json:"reason,omitempty"`
}

// EmailRequest is the body of POST /users/lookup.
type EmailRequest struct {
	Email string `json:"email"`
}

// ProfileRequest is the body of PATCH /users/{id}.
type ProfileRequest struct {
	usermgmt.Profile
	Reason string `json:"reason,omitempty"`
}

// RoleRequest is the body of PUT /users/{id}/role.
type RoleRequest struct {
	Role   string `json:"role"`
	Reason string `json:"reason,omitempty"`
}

// EmailChangeRequest is the body of POST /users/{id}/email.
type EmailChangeRequest struct {
	Email  string `json:"email"`
	Reason string `json:"reason,omitempty"`
}

// MoveRequest is the body of POST /users/{id}/move.
type MoveRequest struct {
	AccountID string `json:"account_id"`
	Reason    string `json:"reason,omitempty"`
}

// PasswordRequest is the body of PUT /users/{id}/password, and of
// POST /users/{id}/unlock, where the password is optional.
type PasswordRequest struct {
	Password string `json:"password,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// ActionRequest is the optional body of the status changes (ban, unban,
// disable, enable, reactivate, remove, revoke an invitation).
type ActionRequest struct {
	Reason string `json:"reason,omitempty"`
}

// GrantRequest is the body of POST /users/{id}/grants and
// POST /groups/{id}/grants.
type GrantRequest struct {
	usermgmt.Grant
	Reason string `json:"reason,omitempty"`
}

// CreatedResponse is a created user, with the invitation token when the
// handler exposes tokens.
type CreatedResponse struct {
	User            usermgmt.User `json:"user"`
	InvitationToken string        `json:"invitation_token,omitempty"`
}

// EmailChangeResponse is a user after an email change was requested, with
// the token when the handler exposes tokens.
type EmailChangeResponse struct {
	User  usermgmt.User `json:"user"`
	Token string        `json:"token,omitempty"`
}

func (h *Handler) listUsers(c *call) error {
	q := newQuery(c.r, "account_id", "search", "status", "role", "department", "group_id", "include_removed", "cursor", "limit", "total")
	uq := usermgmt.UserQuery{AccountID: q.str("account_id"), Search: q.str("search"), Roles: q.list("role"),
		Department: q.str("department"), GroupID: q.str("group_id"), IncludeRemoved: q.bool("include_removed"),
		Cursor: q.str("cursor"), Limit: q.int("limit"), Total: q.bool("total")}
	for _, s := range q.list("status") {
		uq.Statuses = append(uq.Statuses, usermgmt.Status(s))
	}
	if err := q.err(); err != nil {
		return err
	}
	p, err := h.m.ListUsers(c.ctx, c.actor, uq)
	if err != nil {
		return asParam(err, "statuses", "status")
	}
	return page(c, p)
}

// asParam renames the field of a *usermgmt.FieldError from the name a
// query struct gives it to the name of the query parameter that carried
// it, so that a problem's "errors" point at what the client sent.
func asParam(err error, field, param string) error {
	var fe *usermgmt.FieldError
	if !errors.As(err, &fe) || fe.Field != field {
		return err
	}
	renamed := *fe
	renamed.Field = param
	return &renamed
}

func (h *Handler) createUser(c *call) error {
	var in NewUserRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	return h.create(c, in.NewUser, in.Reason)
}

func (h *Handler) create(c *call, in usermgmt.NewUser, reason string) error {
	c.reason(reason)
	cr, err := h.m.CreateUser(c.ctx, c.actor, in)
	if err != nil {
		return err
	}
	out := CreatedResponse{User: cr.User}
	if h.opts.ExposeTokens {
		out.InvitationToken = cr.InvitationToken
	}
	return c.created("/users/"+cr.User.ID, cr.User.Version, out)
}

func (h *Handler) lookupUser(c *call) error {
	var in EmailRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	u, err := h.m.UserByEmail(c.ctx, c.actor, in.Email)
	if err != nil {
		return err
	}
	return c.user(http.StatusOK, u)
}

func (h *Handler) getUser(c *call) error {
	u, err := h.m.User(c.ctx, c.actor, c.r.PathValue("id"))
	if err != nil {
		return err
	}
	return c.user(http.StatusOK, u)
}

func (h *Handler) updateProfile(c *call) error {
	var in ProfileRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	c.reason(in.Reason)
	u, err := h.m.UpdateProfile(c.ctx, c.actor, c.r.PathValue("id"), in.Profile)
	if err != nil {
		return err
	}
	return c.user(http.StatusOK, u)
}

// transition serves a status change that takes only the user.
func (h *Handler) transition(f func(ctx context.Context, actorID, userID string) (usermgmt.User, error)) func(*call) error {
	return func(c *call) error {
		var in ActionRequest
		if err := c.decode(&in, true); err != nil {
			return err
		}
		c.reason(in.Reason)
		u, err := f(c.ctx, c.actor, c.r.PathValue("id"))
		if err != nil {
			return err
		}
		return c.user(http.StatusOK, u)
	}
}

func (h *Handler) changeRole(c *call) error {
	var in RoleRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	c.reason(in.Reason)
	u, err := h.m.ChangeRole(c.ctx, c.actor, c.r.PathValue("id"), in.Role)
	if err != nil {
		return err
	}
	return c.user(http.StatusOK, u)
}

func (h *Handler) changeEmail(c *call) error {
	var in EmailChangeRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	c.reason(in.Reason)
	ec, err := h.m.ChangeEmail(c.ctx, c.actor, c.r.PathValue("id"), in.Email)
	if err != nil {
		return err
	}
	out := EmailChangeResponse{User: ec.User}
	if h.opts.ExposeTokens {
		out.Token = ec.Token
	}
	c.w.Header().Set("ETag", etag(ec.User.Version))
	return c.json(http.StatusOK, out)
}

func (h *Handler) moveUser(c *call) error {
	var in MoveRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	if in.AccountID == "" {
		// The Manager reads an empty account as the actor's own: a
		// forgotten field must not move anyone there.
		return required("account_id")
	}
	c.reason(in.Reason)
	u, err := h.m.MoveUser(c.ctx, c.actor, c.r.PathValue("id"), in.AccountID)
	if err != nil {
		return err
	}
	return c.user(http.StatusOK, u)
}

func (h *Handler) setPassword(c *call) error {
	var in PasswordRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	c.reason(in.Reason)
	u, err := h.m.SetPassword(c.ctx, c.actor, c.r.PathValue("id"), in.Password)
	if err != nil {
		return err
	}
	return c.user(http.StatusOK, u)
}

func (h *Handler) unlock(c *call) error {
	var in PasswordRequest
	if err := c.decode(&in, true); err != nil {
		return err
	}
	c.reason(in.Reason)
	u, err := h.m.Unlock(c.ctx, c.actor, c.r.PathValue("id"), in.Password)
	if err != nil {
		return err
	}
	return c.user(http.StatusOK, u)
}

func (h *Handler) grantUser(c *call) error {
	var in GrantRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	c.reason(in.Reason)
	u, err := h.m.Grant(c.ctx, c.actor, c.r.PathValue("id"), in.Grant)
	if err != nil {
		return err
	}
	return c.user(http.StatusOK, u)
}

// grantQuery reads the grant a DELETE names in its query.
func grantQuery(c *call) (usermgmt.Grant, error) {
	q := newQuery(c.r, "permission", "resource", "department")
	g := usermgmt.Grant{Permission: usermgmt.Permission(q.str("permission")), Resource: q.str("resource"), Department: q.str("department")}
	if g.Permission == "" {
		q.bad("permission", "is required")
	}
	return g, q.err()
}

func (h *Handler) revokeUserGrant(c *call) error {
	g, err := grantQuery(c)
	if err != nil {
		return err
	}
	var in ActionRequest
	if err := c.decode(&in, true); err != nil {
		return err
	}
	c.reason(in.Reason)
	u, err := h.m.RevokeGrant(c.ctx, c.actor, c.r.PathValue("id"), g)
	if err != nil {
		return err
	}
	return c.user(http.StatusOK, u)
}

// historyQuery reads the filters of a history listing.
func historyQuery(c *call) (usermgmt.AuditQuery, error) {
	q := newQuery(c.r, "action", "actor_id", "since", "until", "cursor", "limit")
	aq := usermgmt.AuditQuery{ActorID: q.str("actor_id"), Since: q.time("since"), Until: q.time("until"),
		Cursor: q.str("cursor"), Limit: q.int("limit")}
	for _, a := range q.list("action") {
		aq.Actions = append(aq.Actions, usermgmt.Action(a))
	}
	return aq, q.err()
}

func (h *Handler) userHistory(c *call) error {
	aq, err := historyQuery(c)
	if err != nil {
		return err
	}
	aq.UserID = c.r.PathValue("id")
	p, err := h.m.History(c.ctx, c.actor, aq)
	if err != nil {
		return err
	}
	return page(c, p)
}
