package bulk

import (
	"context"
	"errors"
	"io"

	"github.com/usermgmt/usermgmt"
)

// Export writes the users that q selects — the users of an account subtree,
// with ListUsers' filters (search, statuses, roles, department, group,
// removed users) — to w in format (FormatCSV or FormatXLSX), as actorID
// (who needs usermgmt.PermManageUsers over q.AccountID; required when
// acting as usermgmt.System), and returns the number of users written.
//
// The file has the columns Import reads (ExportFields), with every cell
// neutralised against formula injection: accounts are written by name, or
// by ID where two accounts of the subtree share the name; groups by name
// (by ID for a group the actor cannot read);
// Active is "no" for a Disabled user. Importing the file again, into the
// same account, skips every row (SkippedExists, or SkippedPending for an
// invited user) but those of removed users (q.IncludeRemoved): their
// addresses are free, and importing invites them anew.
//
// Users are read page by page (q.Limit per page, 0 meaning 1000) and
// written as they come; for XLSX nothing reaches w before the last page.
// A refusal of the listing (usermgmt.ErrPermissionDenied, ErrNotFound, an
// invalid query) is returned before anything is written to w; an error
// after that (the store, ctx, w) leaves w with a truncated file, which the
// caller must discard.
func Export(ctx context.Context, m *usermgmt.Manager, actorID string, q usermgmt.UserQuery, w io.Writer, format Format) (int, error) {
	if q.Limit == 0 {
		q.Limit = 1000
	}
	q.Total = false
	// The first page, and the names, before anything is written.
	p, err := m.ListUsers(ctx, actorID, q)
	if err != nil {
		return 0, err
	}
	accounts, err := loadAccounts(ctx, m, actorID, q.AccountID)
	if err != nil {
		return 0, err
	}
	wr, err := NewWriter(w, format, WriteOptions{})
	if err != nil {
		return 0, err
	}
	groupName := map[string]string{}
	n := 0
	for {
		for _, u := range p.Items {
			rec := Record{Email: u.Email, FirstName: u.FirstName, LastName: u.LastName, Role: u.Role,
				Account: accounts.label(u.AccountID), Department: u.Department, Active: u.Status != usermgmt.StatusDisabled,
				Status: string(u.Status), Created: u.CreatedAt, LastLogin: u.LastLoginAt}
			for _, gid := range u.Groups {
				name, ok := groupName[gid]
				if !ok {
					g, err := m.Group(ctx, actorID, gid)
					switch {
					case err == nil:
						name = g.Name
					case errors.Is(err, usermgmt.ErrNotFound):
						name = gid // deleted meanwhile, or not for the actor to read
					default:
						wr.Abort()
						return n, err
					}
					groupName[gid] = name
				}
				rec.Groups = append(rec.Groups, name)
			}
			if err := wr.Write(rec); err != nil {
				wr.Abort()
				return n, err
			}
			n++
		}
		if p.Next == "" {
			break
		}
		if err := ctx.Err(); err != nil {
			wr.Abort()
			return n, err
		}
		q.Cursor = p.Next
		if p, err = m.ListUsers(ctx, actorID, q); err != nil {
			wr.Abort()
			return n, err
		}
	}
	return n, wr.Close()
}
