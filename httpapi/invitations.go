package httpapi

import (
	"net/http"
	"strings"

	"github.com/usermgmt/usermgmt"
)

// BulkInviteRequest is the body of POST /invitations/bulk.
type BulkInviteRequest struct {
	usermgmt.BulkInvite
	Reason string `json:"reason,omitempty"`
}

// BulkInviteResponse is the per-row report of a bulk invitation.
type BulkInviteResponse struct {
	DryRun  bool                    `json:"dry_run"`
	Results []usermgmt.InviteResult `json:"results"`
}

// TokenRequest is the body of the public routes that take a token alone.
type TokenRequest struct {
	Token string `json:"token"`
}

// AcceptRequest is the body of POST /public/invitation/accept.
type AcceptRequest struct {
	Token string `json:"token"`
	usermgmt.Acceptance
}

// ResetRequest is the body of POST /public/password-reset.
type ResetRequest struct {
	Email string `json:"email"`
}

// ResetConfirmRequest is the body of POST /public/password-reset/confirm.
type ResetConfirmRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (h *Handler) pendingInvitations(c *call) error {
	q := newQuery(c.r, "account_id", "cursor", "limit")
	iq := usermgmt.InvitationQuery{AccountID: q.str("account_id"), Cursor: q.str("cursor"), Limit: q.int("limit")}
	if err := q.err(); err != nil {
		return err
	}
	p, err := h.m.PendingInvitations(c.ctx, c.actor, iq)
	if err != nil {
		return err
	}
	return page(c, p)
}

func (h *Handler) invite(c *call) error {
	var in NewUserRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	in.Invite = true
	return h.create(c, in.NewUser, in.Reason)
}

func (h *Handler) bulkInvite(c *call) error {
	var in BulkInviteRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	if in.Rows == nil {
		return required("rows")
	}
	c.reason(in.Reason)
	rs, err := h.m.InviteUsers(c.ctx, c.actor, in.BulkInvite)
	if err != nil {
		// Rows settled before the failure stay written: the problem
		// carries the per-row report (the rest are not_run).
		return &resultsError{err: err, results: rs}
	}
	for i := range rs {
		rs[i].Error = strings.TrimPrefix(rs[i].Error, "usermgmt: ")
	}
	return c.json(http.StatusOK, BulkInviteResponse{DryRun: in.DryRun, Results: rs})
}

func (h *Handler) resendInvitation(c *call) error {
	var in ActionRequest
	if err := c.decode(&in, true); err != nil {
		return err
	}
	c.reason(in.Reason)
	inv, err := h.m.ResendInvitation(c.ctx, c.actor, c.r.PathValue("user_id"))
	if err != nil {
		return err
	}
	if !h.opts.ExposeTokens {
		inv.Token = ""
	}
	setETag(c.w.Header(), inv.Version)
	return c.json(http.StatusOK, inv)
}

func (h *Handler) revokeInvitation(c *call) error {
	var in ActionRequest
	if err := c.decode(&in, true); err != nil {
		return err
	}
	c.reason(in.Reason)
	u, err := h.m.RevokeInvitation(c.ctx, c.actor, c.r.PathValue("user_id"))
	if err != nil {
		return err
	}
	return c.user(http.StatusOK, u)
}

func (h *Handler) deadMessages(c *call) error {
	q := newQuery(c.r, "cursor", "limit")
	mq := usermgmt.MessageListQuery{Cursor: q.str("cursor"), Limit: q.int("limit")}
	if err := q.err(); err != nil {
		return err
	}
	p, err := h.m.DeadMessages(c.ctx, c.actor, mq)
	if err != nil {
		return err
	}
	return page(c, p)
}

func (h *Handler) requeueMessage(c *call) error {
	var in ActionRequest
	if err := c.decode(&in, true); err != nil {
		return err
	}
	c.reason(in.Reason)
	if err := h.m.RequeueMessage(c.ctx, c.actor, c.r.PathValue("id")); err != nil {
		return err
	}
	return c.noContent()
}

// Public routes.

func (h *Handler) lookupInvitation(c *call) error {
	var in TokenRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	inv, err := h.m.Invitation(c.ctx, in.Token)
	if err != nil {
		return err
	}
	inv.Token = ""
	return c.json(http.StatusOK, inv)
}

func (h *Handler) acceptInvitation(c *call) error {
	var in AcceptRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	if _, err := h.m.AcceptInvitation(c.ctx, in.Token, in.Acceptance); err != nil {
		return err
	}
	return c.noContent()
}

func (h *Handler) requestReset(c *call) error {
	var in ResetRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	key := in.Email
	if e, err := usermgmt.NormalizeEmail(in.Email); err == nil {
		key = e
	}
	if err := h.allow(c.w, h.opts.EmailLimiter, "email:"+key); err != nil {
		return err
	}
	if err := h.m.RequestPasswordReset(c.ctx, in.Email); err != nil {
		return err
	}
	return c.json(http.StatusAccepted, struct {
		Status string `json:"status"`
	}{"accepted"})
}

func (h *Handler) resetPassword(c *call) error {
	var in ResetConfirmRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	if _, err := h.m.ResetPassword(c.ctx, in.Token, in.Password); err != nil {
		return err
	}
	return c.noContent()
}

func (h *Handler) confirmEmailChange(c *call) error {
	var in TokenRequest
	if err := c.decode(&in, false); err != nil {
		return err
	}
	if _, err := h.m.ConfirmEmailChange(c.ctx, in.Token); err != nil {
		return err
	}
	return c.noContent()
}
