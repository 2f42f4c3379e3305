package httpapi

import (
	"net/http"

	"github.com/usermgmt/usermgmt"
)

// table lists every route the handler serves. The mux is built from it,
// and the tests hold it and the OpenAPI document to each other.
func (h *Handler) table() []route {
	return []route{
		{method: "GET", path: "/openapi.json", public: true, handler: h.openAPI},

		{method: "GET", path: "/roles", handler: h.listRoles},

		{method: "GET", path: "/accounts", handler: h.listAccounts},
		{method: "POST", path: "/accounts", handler: h.createAccount},
		{method: "GET", path: "/accounts/{id}", handler: h.getAccount},
		{method: "PATCH", path: "/accounts/{id}", handler: h.updateAccount},
		{method: "POST", path: "/accounts/{id}/departments", handler: h.addDepartment},
		{method: "DELETE", path: "/accounts/{id}/departments/{name}", handler: h.removeDepartment},
		{method: "GET", path: "/accounts/{id}/history", handler: h.accountHistory},

		{method: "GET", path: "/users", handler: h.listUsers},
		{method: "POST", path: "/users", handler: h.createUser},
		{method: "POST", path: "/users/lookup", handler: h.lookupUser},
		{method: "GET", path: "/users/{id}", handler: h.getUser},
		{method: "PATCH", path: "/users/{id}", handler: h.updateProfile},
		{method: "DELETE", path: "/users/{id}", handler: h.transition(h.m.Remove)},
		{method: "PUT", path: "/users/{id}/role", handler: h.changeRole},
		{method: "POST", path: "/users/{id}/email", handler: h.changeEmail},
		{method: "POST", path: "/users/{id}/move", handler: h.moveUser},
		{method: "PUT", path: "/users/{id}/password", handler: h.setPassword},
		{method: "POST", path: "/users/{id}/ban", handler: h.transition(h.m.Ban)},
		{method: "POST", path: "/users/{id}/unban", handler: h.transition(h.m.Unban)},
		{method: "POST", path: "/users/{id}/disable", handler: h.transition(h.m.Disable)},
		{method: "POST", path: "/users/{id}/enable", handler: h.transition(h.m.Enable)},
		{method: "POST", path: "/users/{id}/reactivate", handler: h.transition(h.m.Reactivate)},
		{method: "POST", path: "/users/{id}/unlock", handler: h.unlock},
		{method: "POST", path: "/users/{id}/grants", handler: h.grantUser},
		{method: "DELETE", path: "/users/{id}/grants", handler: h.revokeUserGrant},
		{method: "GET", path: "/users/{id}/history", handler: h.userHistory},

		{method: "GET", path: "/invitations", handler: h.pendingInvitations},
		{method: "POST", path: "/invitations", handler: h.invite},
		{method: "POST", path: "/invitations/bulk", handler: h.bulkInvite},
		{method: "POST", path: "/invitations/{user_id}/resend", handler: h.resendInvitation},
		{method: "DELETE", path: "/invitations/{user_id}", handler: h.revokeInvitation},

		{method: "GET", path: "/groups", handler: h.listGroups},
		{method: "POST", path: "/groups", handler: h.createGroup},
		{method: "GET", path: "/groups/{id}", handler: h.getGroup},
		{method: "PATCH", path: "/groups/{id}", handler: h.updateGroup},
		{method: "DELETE", path: "/groups/{id}", handler: h.deleteGroup},
		{method: "POST", path: "/groups/{id}/grants", handler: h.grantGroup},
		{method: "DELETE", path: "/groups/{id}/grants", handler: h.revokeGroupGrant},
		{method: "PUT", path: "/groups/{id}/members/{user_id}", handler: h.membership(h.m.AddToGroup)},
		{method: "DELETE", path: "/groups/{id}/members/{user_id}", handler: h.membership(h.m.RemoveFromGroup)},

		{method: "POST", path: "/import", upload: true, handler: h.importUsers},
		{method: "GET", path: "/export", handler: h.exportUsers},

		{method: "GET", path: "/messages/dead", handler: h.deadMessages},
		{method: "POST", path: "/messages/dead/{id}/requeue", handler: h.requeueMessage},

		{method: "POST", path: "/public/invitation", public: true, handler: h.lookupInvitation},
		{method: "POST", path: "/public/invitation/accept", public: true, handler: h.acceptInvitation},
		{method: "POST", path: "/public/password-reset", public: true, handler: h.requestReset},
		{method: "POST", path: "/public/password-reset/confirm", public: true, handler: h.resetPassword},
		{method: "POST", path: "/public/email-change/confirm", public: true, handler: h.confirmEmailChange},
	}
}

func (h *Handler) listRoles(c *call) error {
	return c.json(http.StatusOK, struct {
		Items []usermgmt.Role `json:"items"`
	}{h.m.Roles()})
}
