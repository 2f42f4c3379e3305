package usermgmt

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Invitation is a pending invitation as an admin or the invitee sees it.
// The token itself is never stored; only its SHA-256 is.
type Invitation struct {
	UserID    string
	AccountID string
	Email     string
	FirstName string
	LastName  string
	Role      string
	InvitedAt time.Time
	ExpiresAt time.Time // accepted strictly before this instant
}

// Expired reports whether the invitation can no longer be accepted at now.
func (i Invitation) Expired(now time.Time) bool { return !now.Before(i.ExpiresAt) }

func invitationOf(u User) Invitation {
	return Invitation{UserID: u.ID, AccountID: u.AccountID, Email: u.Email, FirstName: u.FirstName,
		LastName: u.LastName, Role: u.Role, InvitedAt: u.InvitedAt, ExpiresAt: u.InviteExpiresAt}
}

// newToken returns a raw invitation token (32 bytes from crypto/rand,
// URL-safe base64) and the hash that is stored in its place.
func newToken() (raw, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("usermgmt: reading token: %w", err)
	}
	raw = base64.RawURLEncoding.EncodeToString(b)
	return raw, hashToken(raw), nil
}

func hashToken(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

// issueInvitation gives u a fresh invitation, voiding any earlier token.
func (m *Manager) issueInvitation(u *User, now time.Time) (string, error) {
	raw, hash, err := newToken()
	if err != nil {
		return "", err
	}
	u.InviteTokenHash, u.InvitedAt, u.InviteExpiresAt = hash, now, now.Add(m.policy.InvitationTTL)
	return raw, nil
}

func clearInvitation(u *User) {
	u.InviteTokenHash, u.InvitedAt, u.InviteExpiresAt = "", time.Time{}, time.Time{}
}

// pendingByToken finds the user a token was issued to and checks that the
// invitation can still be accepted at now.
func (m *Manager) pendingByToken(ctx context.Context, token string, now time.Time) (User, error) {
	if token == "" || len(token) > 128 {
		return User{}, ErrInvitationInvalid
	}
	hash := hashToken(token)
	u, err := m.store.UserByInviteToken(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return User{}, ErrInvitationInvalid
	}
	if err != nil {
		return User{}, err
	}
	return u, checkPending(u, hash, now)
}

func checkPending(u User, hash string, now time.Time) error {
	if subtle.ConstantTimeCompare([]byte(u.InviteTokenHash), []byte(hash)) != 1 {
		return ErrInvitationInvalid
	}
	if !now.Before(u.InviteExpiresAt) {
		return ErrInvitationExpired
	}
	if u.Status != StatusInvited {
		if err := statusError(u.Status); err != nil {
			return err
		}
		return ErrInvitationInvalid
	}
	return nil
}

// Invitation looks up the invitation a token belongs to without using it,
// so that a link scanner opening the email does not burn it. It returns
// ErrInvitationInvalid for an unknown, used, revoked or replaced token and
// ErrInvitationExpired from its expiry on.
func (m *Manager) Invitation(ctx context.Context, token string) (Invitation, error) {
	u, err := m.pendingByToken(ctx, token, m.now())
	if err != nil {
		return Invitation{}, err
	}
	return invitationOf(u), nil
}

// Acceptance is what the invitee submits with the token.
type Acceptance struct {
	Password  string // must meet the password policy
	FirstName string // optional: replaces the name the admin entered
	LastName  string // optional
}

// AcceptInvitation uses a token: it sets the password and, when given, the
// names, and makes the user Active. A token works once, strictly before its
// expiry.
func (m *Manager) AcceptInvitation(ctx context.Context, token string, a Acceptance) (User, error) {
	u, err := m.pendingByToken(ctx, token, m.now())
	if err != nil {
		return User{}, err
	}
	first, last := u.FirstName, u.LastName
	if a.FirstName != "" {
		if first, err = validateName("first_name", a.FirstName); err != nil {
			return User{}, err
		}
	}
	if a.LastName != "" {
		if last, err = validateName("last_name", a.LastName); err != nil {
			return User{}, err
		}
	}
	if err := m.policy.Password.Check(a.Password, u.Email); err != nil {
		return User{}, err
	}
	hash, err := m.hasher.hash(ctx, a.Password)
	if err != nil {
		return User{}, err
	}
	tokenHash := u.InviteTokenHash
	u, err = m.update(ctx, u.ID, u.ID, ActionAccept, func(u *User) (bool, error) {
		now := m.now()
		if err := checkPending(*u, tokenHash, now); err != nil {
			return false, err
		}
		u.FirstName, u.LastName, u.PasswordHash = first, last, hash
		clearInvitation(u)
		activate(u, now)
		return false, nil
	})
	if errors.Is(err, ErrNotFound) {
		err = ErrInvitationInvalid
	}
	return u.redacted(), err
}

// ResendInvitation issues a new token with a new validity window to an
// invited user; the old token stops working. It returns the new raw token,
// for the email. It takes PermManageUsers over the user.
func (m *Manager) ResendInvitation(ctx context.Context, actorID, userID string) (string, error) {
	act, err := m.actor(ctx, actorID)
	if err != nil {
		return "", err
	}
	var token string
	_, err = m.update(ctx, act.id(), userID, ActionResend, func(u *User) (bool, error) {
		if err := m.authorizeOn(ctx, act, *u); err != nil {
			return false, err
		}
		if u.Status != StatusInvited {
			return false, &TransitionError{Action: ActionResend, From: u.Status}
		}
		token, err = m.issueInvitation(u, m.now())
		return false, err
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// RevokeInvitation voids an invited user's invitation and removes the user,
// freeing the email for a new invitation; the history stays. It takes
// PermManageUsers over the user.
func (m *Manager) RevokeInvitation(ctx context.Context, actorID, userID string) error {
	act, err := m.actor(ctx, actorID)
	if err != nil {
		return err
	}
	_, err = m.update(ctx, act.id(), userID, ActionRevoke, func(u *User) (bool, error) {
		if err := m.authorizeOn(ctx, act, *u); err != nil {
			return false, err
		}
		if u.Status != StatusInvited {
			return false, &TransitionError{Action: ActionRevoke, From: u.Status}
		}
		clearInvitation(u)
		u.Status = StatusRemoved
		return false, nil
	})
	return err
}

// PendingInvitations returns a page of the invited users of an account
// subtree (empty accountID: the actor's account) with their expiry, expired
// ones included. It takes PermManageUsers over the account.
func (m *Manager) PendingInvitations(ctx context.Context, actorID, accountID, cursor string, limit int) (Page[Invitation], error) {
	p, err := m.ListUsers(ctx, actorID, UserQuery{AccountID: accountID, Statuses: []Status{StatusInvited}, Cursor: cursor, Limit: limit})
	if err != nil {
		return Page[Invitation]{}, err
	}
	out := Page[Invitation]{Items: make([]Invitation, len(p.Items)), Next: p.Next}
	for i, u := range p.Items {
		out.Items[i] = invitationOf(u)
	}
	return out, nil
}

// BulkInvite invites many addresses at once into one account with one role.
type BulkInvite struct {
	AccountID string
	Role      string // default RoleGeneral
	Emails    []string
}

// InviteOutcome says what became of one address of a BulkInvite.
type InviteOutcome string

// The outcomes of a bulk invitation row.
const (
	Invited            InviteOutcome = "invited"             // user created, invitation issued
	SkippedExists      InviteOutcome = "skipped_exists"      // a user with the email exists (maybe in another tenant)
	SkippedPending     InviteOutcome = "skipped_pending"     // an invitation for the email is pending
	RejectedInvalid    InviteOutcome = "rejected_invalid"    // not a valid address
	RejectedDisposable InviteOutcome = "rejected_disposable" // a disposable-mail domain
)

// InviteResult is the outcome for one address, in input order.
type InviteResult struct {
	Email   string // as given
	Outcome InviteOutcome
	UserID  string // the invited or existing user; empty for a user outside the actor's reach
	Token   string // the raw token to email, for Invited rows only
	Err     error  // why a row was rejected
}

// inviteBatch is how many users one store write creates in InviteUsers.
const inviteBatch = 500

// InviteUsers invites every address of in and reports, row by row, what
// happened: invited, skipped (the user exists, or is already invited) or
// rejected (invalid or disposable address). An address repeated in the
// list is handled once; its repeats are reported as skipped. The actor
// needs PermManageUsers over the account and must hold the role. The error
// is for failures of the whole call (authorisation, the store); rows
// created before a store failure stay created, each with its audit event.
func (m *Manager) InviteUsers(ctx context.Context, actorID string, in BulkInvite) ([]InviteResult, error) {
	if in.Role == "" {
		in.Role = RoleGeneral
	}
	act, err := m.authorizeCreate(ctx, actorID, in.AccountID, in.Role)
	if err != nil {
		return nil, err
	}
	results := make([]InviteResult, len(in.Emails))
	first := make(map[string]int, len(in.Emails)) // normalised email -> first row
	repeats := make(map[int]int)                  // repeated row -> first row
	var rows []int                                // rows to create, in order
	var users []User
	var events []AuditEvent
	for i, raw := range in.Emails {
		r := &results[i]
		r.Email = raw
		u, token, err := m.newUser(NewUser{AccountID: in.AccountID, Email: raw, Role: in.Role}, false)
		switch {
		case errors.Is(err, ErrDisposableEmail):
			r.Outcome, r.Err = RejectedDisposable, err
			continue
		case errors.Is(err, ErrInvalidEmail):
			r.Outcome, r.Err = RejectedInvalid, err
			continue
		case err != nil:
			return nil, err
		}
		if j, dup := first[u.Email]; dup {
			repeats[i] = j // resolved once the first row is settled
			continue
		}
		first[u.Email] = i
		ev, err := m.event(u.CreatedAt, act.id(), ActionInvite, u, diff(User{}, u))
		if err != nil {
			return nil, err
		}
		r.Outcome, r.UserID, r.Token = Invited, u.ID, token
		rows, users, events = append(rows, i), append(users, u), append(events, ev)
	}
	for start := 0; start < len(users); start += inviteBatch {
		end := min(start+inviteBatch, len(users))
		err := m.store.CreateUsers(ctx, users[start:end], events[start:end])
		if errors.Is(err, ErrDuplicateEmail) {
			// Someone holds one of these emails: settle the batch row by row.
			for k := start; k < end; k++ {
				if err := m.inviteOne(ctx, act, &results[rows[k]], users[k], events[k]); err != nil {
					return results, err
				}
			}
			continue
		}
		if err != nil {
			for k := start; k < len(users); k++ {
				results[rows[k]] = InviteResult{Email: results[rows[k]].Email, Err: err}
			}
			return results, err
		}
	}
	for i, j := range repeats {
		results[i].Outcome, results[i].UserID = results[j].Outcome, results[j].UserID
		if results[i].Outcome == Invited {
			results[i].Outcome = SkippedPending
		}
	}
	return results, nil
}

// inviteOne creates one invited user, or reports why the email is taken.
func (m *Manager) inviteOne(ctx context.Context, act actor, r *InviteResult, u User, ev AuditEvent) error {
	for attempt := 0; attempt < 3; attempt++ {
		err := m.store.CreateUsers(ctx, []User{u}, []AuditEvent{ev})
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrDuplicateEmail) {
			return err
		}
		existing, err := m.store.UserByEmail(ctx, u.Email)
		if errors.Is(err, ErrNotFound) {
			continue // removed meanwhile: try again
		}
		if err != nil {
			return err
		}
		// Emails are unique across tenants; of a user outside the actor's
		// reach the row says only that the email is taken.
		r.Outcome, r.UserID, r.Token = SkippedExists, "", ""
		if _, err := m.reach(ctx, act, existing.AccountID); errors.Is(err, ErrPermissionDenied) {
			return nil
		} else if err != nil {
			return err
		}
		r.UserID = existing.ID
		if existing.Status == StatusInvited {
			r.Outcome = SkippedPending
		}
		return nil
	}
	return ErrConflict
}

//go:embed disposable_domains.txt
var disposableDomainList string

var defaultDisposable = sync.OnceValue(func() []string {
	var out []string
	for _, line := range strings.Split(disposableDomainList, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
})

// DefaultDisposableDomains returns the built-in list of disposable-mail
// domains refused for new users: a small list of the best-known services.
// Pass a longer or shorter list as Policy.DisposableDomains.
func DefaultDisposableDomains() []string { return append([]string(nil), defaultDisposable()...) }

func domainSet(domains []string) map[string]struct{} {
	set := make(map[string]struct{}, len(domains))
	for _, d := range domains {
		set[strings.ToLower(strings.TrimSpace(d))] = struct{}{}
	}
	return set
}

// isDisposable reports whether the domain, or any domain it is under, is listed.
func (m *Manager) isDisposable(domain string) bool {
	for {
		if _, ok := m.disposable[domain]; ok {
			return true
		}
		_, rest, ok := strings.Cut(domain, ".")
		if !ok {
			return false
		}
		domain = rest
	}
}
