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

// Page is one page of a listing. Next is the cursor of the following page,
// empty on the last one.
type Page[T any] struct {
	Items []T
	Next  string
}

// newPage cuts a store result fetched with limit+1 rows into a page.
func newPage[T any](rows []T, limit int, key func(T) string) Page[T] {
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
// cannot use a trigram index, so on a large SQLite store a rare one would
// read the whole account subtree.
const MinSearchLength = 3

// UserQuery selects users for ListUsers.
type UserQuery struct {
	// AccountID is the account whose users, and whose sub-accounts' users,
	// are listed. Empty means the actor's own account.
	AccountID string
	// Search, when not empty, keeps users whose first name, last name or
	// email contains it, ignoring case. It needs MinSearchLength characters
	// and no control characters.
	Search string
	// Statuses, when not empty, keeps users in these statuses.
	Statuses []Status
	// Roles, when not empty, keeps users with these roles.
	Roles []string
	// IncludeRemoved lists removed users too when Statuses is empty; they
	// are hidden otherwise.
	IncludeRemoved bool
	// Cursor is the Next of the previous page; empty for the first page.
	Cursor string
	// Limit is the page size; 0 means 50, at most 1000.
	Limit int
}

// ListUsers returns a page of the users of an account subtree, in creation
// order. It takes PermManageUsers over the account.
func (m *Manager) ListUsers(ctx context.Context, actorID string, q UserQuery) (Page[User], error) {
	sq, err := m.listQuery(ctx, actorID, q)
	if err != nil {
		return Page[User]{}, err
	}
	users, err := m.store.ListUsers(ctx, sq)
	if err != nil {
		return Page[User]{}, err
	}
	for i := range users {
		users[i] = users[i].redacted()
	}
	return newPage(users, sq.Limit-1, func(u User) string { return u.ID }), nil
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
	search := strings.ToLower(strings.TrimSpace(q.Search))
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
	statuses := slices.Clone(q.Statuses)
	if len(statuses) == 0 && q.IncludeRemoved {
		statuses = slices.Clone(Statuses)
	}
	act, err := m.actor(ctx, actorID)
	if err != nil {
		return ListQuery{}, err
	}
	accountID := q.AccountID
	if accountID == "" {
		if act.system {
			return ListQuery{}, fieldError(ErrInvalidInput, "account_id", "is required when acting as System")
		}
		accountID = act.user.AccountID
	}
	if _, err := m.authorizeAccount(ctx, act, accountID, PermManageUsers); err != nil {
		return ListQuery{}, err
	}
	return ListQuery{AccountID: accountID, Search: search, Statuses: statuses, Roles: slices.Clone(q.Roles), After: after, Limit: limit + 1}, nil
}
