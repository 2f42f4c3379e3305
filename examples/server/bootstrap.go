package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/mail"
)

// bootstrap gives a new database its first account: when no user holds
// the admin email (the first start, on an empty database), it creates the
// top-level account c.Account with its admin invited, and prints the
// invitation link to out, as the operator has no other way in yet. The
// invitation is also emailed, through the outbox, like any other.
//
// An admin who exists already is left alone; one who has not accepted
// their invitation yet is reported, and one whose invitation has expired
// (now is at or past it) gets a new one, printed like the first: the
// operator would have no other way in. Two servers starting at once on one
// empty database create one account: the second meets the first's admin
// (ErrDuplicateEmail) and does nothing. "Empty" is judged by the admin
// email because the Manager has no call that lists top-level accounts: a
// later start with another -admin-email creates another top-level account.
func bootstrap(ctx context.Context, m *usermgmt.Manager, c config, baseURL string, now time.Time, out io.Writer, log *slog.Logger) error {
	admin, err := m.UserByEmail(ctx, usermgmt.System, c.AdminEmail)
	switch {
	case err == nil && admin.Status == usermgmt.StatusInvited && now.Before(admin.InvitationExpiresAt):
		log.Warn("the admin has not accepted the invitation yet", "email", admin.Email,
			"expires", admin.InvitationExpiresAt)
		return nil
	case err == nil && admin.Status == usermgmt.StatusInvited:
		// Expired (or voided: InvitationExpiresAt is zero then).
		inv, err := m.ResendInvitation(ctx, usermgmt.System, admin.ID)
		if err != nil {
			return fmt.Errorf("renewing the admin's invitation: %w", err)
		}
		log.Info("renewed the admin's expired invitation", "admin", inv.Email)
		fmt.Fprintf(out, "the admin %s never accepted and the invitation expired; a new one is valid until %s\n",
			inv.Email, inv.ExpiresAt.Format("2006-01-02 15:04 MST"))
		fmt.Fprintf(out, "admin invitation: %s\n", invitationLink(baseURL, inv.Token))
		return nil
	case err == nil:
		return nil
	case !errors.Is(err, usermgmt.ErrNotFound):
		return fmt.Errorf("looking for the admin %s: %w", c.AdminEmail, err)
	}
	acct, created, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{
		Name:  c.Account,
		Admin: usermgmt.NewUser{Email: c.AdminEmail, FirstName: "Admin", LastName: c.Account, Invite: true},
	})
	if errors.Is(err, usermgmt.ErrDuplicateEmail) {
		return nil // another instance got there first
	}
	if err != nil {
		return fmt.Errorf("creating the first account: %w", err)
	}
	link := invitationLink(baseURL, created.InvitationToken)
	log.Info("created the first account", "account", acct.Name, "account_id", acct.ID, "admin", created.User.Email)
	fmt.Fprintf(out, "first start: account %q created; its admin %s is invited until %s\n",
		acct.Name, created.User.Email, created.User.InvitationExpiresAt.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(out, "admin invitation: %s\n", link)
	return nil
}

// invitationLink is the link an invitation email carries.
func invitationLink(baseURL, token string) string {
	return baseURL + mail.DefaultPaths()[usermgmt.NotifyInvitation] + url.QueryEscape(token)
}
