package httpapi

import (
	"context"
	"net/http"

	"github.com/usermgmt/usermgmt"
)

// NewAccountRequest is the body of POST /accounts: a sub-account (ParentID
// is required unless the actor is usermgmt.System) and its first admin.
type NewAccountRequest struct {
	usermgmt.NewAccount
	Reason string `json:"reason,omitempty"`
}

// AccountCreatedResponse is a created account and its admin.
type AccountCreatedResponse struct {
	Account usermgmt.Account `json:"account"`
	Admin   CreatedResponse  `json:"admin"`
}

// AccountPatchRequest is the body of PATCH /accounts/{id}.
type AccountPatchRequest struct {
	usermgmt.AccountPatch
	Reason string `json:"reason,omitempty"`
}

// DepartmentRequest is the body of POST /accounts/{id}/departments.
type DepartmentRequest struct {
	Name   string `json:"name"`
	Reason string `json:"reason,omitempty"`
}

func (h *Handler) listAccounts(c *call) error {
	q := newQuery(c.r, "root_id", "cursor", "limit")
	aq := usermgmt.AccountListQuery{RootID: q.str("root_id"), Cursor: q.str("cursor"), Limit: q.int("limit")}
	if err := q.err(); err != nil {
		return err
	}
	p, err := h.m.Accounts(c.ctx, c.actor, aq)
	if err != nil {
		return err
	}
	return page(c, p)
}

func (h *Handler) createAccount(c *call) error {
	var in NewAccountRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	c.reason(in.Reason)
	a, cr, err := h.m.CreateAccount(c.ctx, c.actor, in.NewAccount)
	if err != nil {
		return err
	}
	out := AccountCreatedResponse{Account: a, Admin: CreatedResponse{User: cr.User}}
	if h.opts.ExposeTokens {
		out.Admin.InvitationToken = cr.InvitationToken
	}
	return c.created("/accounts/"+a.ID, a.Version, out)
}

// account writes an account with its ETag.
func (c *call) account(a usermgmt.Account) error {
	c.w.Header().Set("ETag", etag(a.Version))
	return c.json(http.StatusOK, a)
}

func (h *Handler) getAccount(c *call) error {
	a, err := h.m.Account(c.ctx, c.actor, c.r.PathValue("id"))
	if err != nil {
		return err
	}
	return c.account(a)
}

func (h *Handler) updateAccount(c *call) error {
	var in AccountPatchRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	c.reason(in.Reason)
	a, err := h.m.UpdateAccount(c.ctx, c.actor, c.r.PathValue("id"), in.AccountPatch)
	if err != nil {
		return err
	}
	return c.account(a)
}

func (h *Handler) addDepartment(c *call) error {
	var in DepartmentRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	c.reason(in.Reason)
	a, err := h.m.AddDepartment(c.ctx, c.actor, c.r.PathValue("id"), in.Name)
	if err != nil {
		return err
	}
	return c.account(a)
}

func (h *Handler) removeDepartment(c *call) error {
	var in ActionRequest
	if err := c.decode(&in, true); err != nil {
		return err
	}
	c.reason(in.Reason)
	a, err := h.m.RemoveDepartment(c.ctx, c.actor, c.r.PathValue("id"), c.r.PathValue("name"))
	if err != nil {
		return err
	}
	return c.account(a)
}

func (h *Handler) accountHistory(c *call) error {
	aq, err := historyQuery(c)
	if err != nil {
		return err
	}
	aq.AccountID = c.r.PathValue("id")
	p, err := h.m.AccountHistory(c.ctx, c.actor, aq)
	if err != nil {
		return err
	}
	return page(c, p)
}

// Groups.

// NewGroupRequest is the body of POST /groups.
type NewGroupRequest struct {
	usermgmt.NewGroup
	Reason string `json:"reason,omitempty"`
}

// GroupPatchRequest is the body of PATCH /groups/{id}.
type GroupPatchRequest struct {
	usermgmt.GroupPatch
	Reason string `json:"reason,omitempty"`
}

// group writes a group with its ETag.
func (c *call) group(g usermgmt.Group) error {
	c.w.Header().Set("ETag", etag(g.Version))
	return c.json(http.StatusOK, g)
}

func (h *Handler) listGroups(c *call) error {
	q := newQuery(c.r, "account_id", "cursor", "limit")
	gq := usermgmt.GroupListQuery{AccountID: q.str("account_id"), Cursor: q.str("cursor"), Limit: q.int("limit")}
	if err := q.err(); err != nil {
		return err
	}
	p, err := h.m.ListGroups(c.ctx, c.actor, gq)
	if err != nil {
		return err
	}
	return page(c, p)
}

func (h *Handler) createGroup(c *call) error {
	var in NewGroupRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	c.reason(in.Reason)
	g, err := h.m.CreateGroup(c.ctx, c.actor, in.NewGroup)
	if err != nil {
		return err
	}
	return c.created("/groups/"+g.ID, g.Version, g)
}

func (h *Handler) getGroup(c *call) error {
	g, err := h.m.Group(c.ctx, c.actor, c.r.PathValue("id"))
	if err != nil {
		return err
	}
	return c.group(g)
}

func (h *Handler) updateGroup(c *call) error {
	var in GroupPatchRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	c.reason(in.Reason)
	g, err := h.m.UpdateGroup(c.ctx, c.actor, c.r.PathValue("id"), in.GroupPatch)
	if err != nil {
		return err
	}
	return c.group(g)
}

func (h *Handler) deleteGroup(c *call) error {
	var in ActionRequest
	if err := c.decode(&in, true); err != nil {
		return err
	}
	c.reason(in.Reason)
	ctx := c.ctx
	if c.pinned {
		// DeleteGroup writes the group and then each member; the expected
		// version must pin the first write only (see the package notes on
		// the Manager API), so it is checked here and not passed on.
		g, err := h.m.Group(ctx, c.actor, c.r.PathValue("id"))
		if err != nil {
			return err
		}
		if g.Version != c.want {
			return errPrecondition
		}
		ctx = usermgmt.WithRequestMeta(c.r.Context(), c.meta)
	}
	g, err := h.m.DeleteGroup(ctx, c.actor, c.r.PathValue("id"))
	if err != nil {
		return err
	}
	return c.group(g)
}

func (h *Handler) grantGroup(c *call) error {
	var in GrantRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	c.reason(in.Reason)
	g, err := h.m.GrantGroup(c.ctx, c.actor, c.r.PathValue("id"), in.Grant)
	if err != nil {
		return err
	}
	return c.group(g)
}

func (h *Handler) revokeGroupGrant(c *call) error {
	gr, err := grantQuery(c)
	if err != nil {
		return err
	}
	var in ActionRequest
	if err := c.decode(&in, true); err != nil {
		return err
	}
	c.reason(in.Reason)
	g, err := h.m.RevokeGroupGrant(c.ctx, c.actor, c.r.PathValue("id"), gr)
	if err != nil {
		return err
	}
	return c.group(g)
}

// membership serves adding a user to a group and taking them out; the
// answer, and If-Match, are about the user.
func (h *Handler) membership(f func(ctx context.Context, actorID, userID, groupID string) (usermgmt.User, error)) func(*call) error {
	return func(c *call) error {
		var in ActionRequest
		if err := c.decode(&in, true); err != nil {
			return err
		}
		c.reason(in.Reason)
		u, err := f(c.ctx, c.actor, c.r.PathValue("user_id"), c.r.PathValue("id"))
		if err != nil {
			return err
		}
		return c.user(http.StatusOK, u)
	}
}
