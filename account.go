package usermgmt

import "time"

// Account is a tenant. Accounts form a tree: a top-level account (say "All
// Clients") with client sub-accounts beneath it. An admin of an account
// manages the users of that account and of every account beneath it.
type Account struct {
	ID        string   // UUIDv7
	ParentID  string   // empty for a top-level account
	Ancestors []string // IDs from the top-level account down to ParentID; empty for a top-level account
	Name      string
	CreatedAt time.Time
}

// within reports whether the account is root or lies beneath it.
func (a Account) within(root string) bool {
	if a.ID == root {
		return true
	}
	for _, id := range a.Ancestors {
		if id == root {
			return true
		}
	}
	return false
}
