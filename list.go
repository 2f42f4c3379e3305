package usermgmt

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Page is one page of a listing (keyset pagination). Next is the cursor of
// the following page, empty on the last one; Total, when asked for and the
// store can count cheaply, is how many items match in all. The Manager's
// pages always hold a non-nil Items, so an empty page encodes as
// {"items":[]}.
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
	Total *int   `json:"total,omitempty"`
}

// newPage cuts a store result fetched with limit+1 rows into a page.
func newPage[T any](rows []T, limit int, key func(T) string) Page[T] {
	if rows == nil {
		rows = []T{}
	}
	if len(rows) <= limit {
		return Page[T]{Items: rows}
	}
	rows = rows[:limit]
	return Page[T]{Items: rows, Next: encodeCursor(key(rows[limit-1]))}
}

// Cursors are opaque to callers: the last ID of the page, encoded.
func encodeCursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", ErrInvalidCursor
	}
	id, err := uuid.ParseBytes(b)
	if err != nil || id.String() != string(b) {
		return "", ErrInvalidCursor
	}
	return string(b), nil
}

const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

func pageLimit(n int) (int, error) {
	switch {
	case n == 0:
		return defaultPageSize, nil
	case n < 0 || n > maxPageSize:
		return 0, fieldError(ErrInvalidInput, "limit", "must be between 1 and 1000")
	}
	return n, nil
}

// MinSearchLength is the shortest UserQuery.Search accepted. Shorter terms
// cannot use a trigram index, so on a large store a rare one would read the
// whole account subtree.
const MinSearchLength = 3

// UserQuery selects users for ListUsers.
type UserQuery struct {
	// AccountID is the account whose users, and whose sub-accounts' users,
	// are listed. Empty means the actor's own account.
	AccountID string `json:"account_id,omitempty"`
	// Search, when not empty, keeps users whose first name, last name or
	// email contains it, ignoring case. It needs MinSearchLength characters
	// and no control characters.
	Search string `json:"search,omitempty"`
	// Statuses, when not empty, keeps users in these statuses.
	Statuses []Status `json:"statuses,omitempty"`
	// Roles, when not empty, keeps users with these roles.
	Roles []string `json:"roles,omitempty"`
	// Department, when not empty, keeps users of that department.
	Department string `json:"department,omitempty"`
	// GroupID, when not empty, keeps members of that group.
	GroupID string `json:"group_id,omitempty"`
	// IncludeRemoved lists removed users too when Statuses is empty; they
	// are hidden otherwise.
	IncludeRemoved bool `json:"include_removed,omitempty"`
	// Cursor is the Next of the previous page; empty for the first page.
	Cursor string `json:"cursor,omitempty"`
	// Limit is the page size; 0 means 50, at most 1000.
	Limit int `json:"limit,omitempty"`
	// Total asks for Page.Total, the number of matching users, when the
	// store can count them cheaply (it implements Counter); otherwise
	// Total stays nil.
	Total bool `json:"total,omitempty"`
}

// Counter is implemented by stores that count a listing's matches cheaply.
type Counter interface {
	// CountUsers returns how many users match q (q.After and q.Limit are
	// ignored).
	CountUsers(ctx context.Context, q ListQuery) (int, error)
}

// ListUsers returns a page of the users of an account subtree, in creation
// order, filtered by q. It takes PermManageUsers over the account; an
// actor whose role has OwnDepartment sees their department only.
func (m *Manager) ListUsers(ctx context.Context, actorID string, q UserQuery) (Page[User], error) {
	p, err := m.listRecords(ctx, actorID, q)
	if err != nil {
		return Page[User]{}, err
	}
	out := Page[User]{Items: make([]User, len(p.Items)), Next: p.Next, Total: p.Total}
	for i, u := range p.Items {
		out.Items[i] = u.View()
	}
	return out, nil
}

// listRecords is ListUsers returning records.
func (m *Manager) listRecords(ctx context.Context, actorID string, q UserQuery) (Page[UserRecord], error) {
	sq, err := m.listQuery(ctx, actorID, q)
	if err != nil {
		return Page[UserRecord]{}, err
	}
	users, err := m.store.ListUsers(ctx, sq)
	if err != nil {
		return Page[UserRecord]{}, err
	}
	p := newPage(users, sq.Limit-1, func(u UserRecord) string { return u.ID })
	if c, ok := m.store.s.(Counter); ok && q.Total {
		cq := sq
		cq.After = ""
		n, err := c.CountUsers(ctx, cq)
		if err != nil {
			return Page[UserRecord]{}, cleanErr(err)
		}
		p.Total = &n
	}
	return p, nil
}

// listQuery checks a UserQuery and the actor's reach, and turns it into the
// store's query, asking for one row more than the page to learn if another follows.
func (m *Manager) listQuery(ctx context.Context, actorID string, q UserQuery) (ListQuery, error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return ListQuery{}, err
	}
	after, err := decodeCursor(q.Cursor)
	if err != nil {
		return ListQuery{}, err
	}
	search := FoldSearch(strings.TrimSpace(q.Search))
	switch n := utf8.RuneCountInString(search); {
	case !utf8.ValidString(search):
		return ListQuery{}, fieldError(ErrInvalidInput, "search", "is not valid UTF-8")
	case strings.ContainsFunc(search, unicode.IsControl):
		// No name or email holds one; a NUL would also end SQLite's
		// full-text query early.
		return ListQuery{}, fieldError(ErrInvalidInput, "search", "holds a control character")
	case n > 0 && n < MinSearchLength:
		return ListQuery{}, fieldError(ErrInvalidInput, "search", fmt.Sprintf("needs at least %d characters", MinSearchLength))
	case len(search) > 254:
		return ListQuery{}, fieldError(ErrInvalidInput, "search", "is longer than 254 bytes")
	}
	for _, s := range q.Statuses {
		if !s.Valid() {
			return ListQuery{}, fieldError(ErrInvalidInput, "statuses", "holds an unknown status "+string(s))
		}
	}
	for _, r := range q.Roles {
		if _, err := m.role(r); err != nil {
			return ListQuery{}, err
		}
	}
	statuses := slices.Clone(q.Statuses)
	if len(statuses) == 0 && q.IncludeRemoved {
		statuses = slices.Clone(Statuses)
	}
	act, err := m.userManager(ctx, actorID)
	if err != nil {
		return ListQuery{}, err
	}
	acct, err := m.authorizeAccount(ctx, act, q.AccountID, PermManageUsers)
	if err != nil {
		return ListQuery{}, err
	}
	dept := q.Department
	if d, ok := acct.department(dept); ok {
		dept = d // the account's spelling; departments match ignoring case
	}
	if !act.system && act.role.OwnDepartment {
		if dept != "" && dept != act.user.Department {
			return ListQuery{}, fieldError(ErrNotFound, "department", "is not the actor's department")
		}
		dept = act.user.Department
		if dept == "" {
			return ListQuery{}, fmt.Errorf("%w: a department-bound actor without a department sees no one", ErrPermissionDenied)
		}
	}
	if q.GroupID != "" {
		g, err := m.groupFor(ctx, act, q.GroupID, true)
		if err != nil {
			return ListQuery{}, err
		}
		if g.Deleted {
			return ListQuery{}, ErrNotFound
		}
	}
	return ListQuery{AccountID: acct.ID, Search: search, Statuses: statuses, Roles: slices.Clone(q.Roles),
		Department: dept, GroupID: q.GroupID, After: after, Limit: limit + 1}, nil
}
