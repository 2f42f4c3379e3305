package usermgmt

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
)

// BulkInvite invites many users at once: seed 001's "send invites to
// multiple users at one time", and the engine under package bulk's
// spreadsheet import.
type BulkInvite struct {
	// AccountID is the account of rows that name none; empty means the
	// actor's own account.
	AccountID string `json:"account_id,omitempty"`
	// Role is the role of rows that name none; default RoleGeneral.
	Role string `json:"role,omitempty"`
	// Rows are the users to add. A row is invited (its invitation mailed)
	// unless it is Disabled (created Disabled, nothing mailed, for an
	// admin to enable later) or carries a PasswordHash (created Active
	// with the imported hash). Rows may not carry a plain Password.
	Rows []NewUser `json:"rows"`
	// DryRun checks every row and reports what would happen, writing
	// nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

// InviteOutcome says what became (or, in a dry run, would become) of one
// row of a BulkInvite.
type InviteOutcome string

// The outcomes of a bulk invitation row.
const (
	Invited            InviteOutcome = "invited"             // user created, invitation issued and mailed
	CreatedActive      InviteOutcome = "created"             // user created Active with an imported password hash
	CreatedDisabled    InviteOutcome = "created_disabled"    // user created Disabled, nothing mailed
	SkippedExists      InviteOutcome = "skipped_exists"      // a user with the email exists (maybe in another tenant)
	SkippedPending     InviteOutcome = "skipped_pending"     // an Invited user has the email, even one whose invitation expired (ResendInvitation renews it)
	SkippedDuplicate   InviteOutcome = "skipped_duplicate"   // the email appears on an earlier row (DuplicateOf)
	RejectedInvalid    InviteOutcome = "rejected_invalid"    // not a valid address
	RejectedDisposable InviteOutcome = "rejected_disposable" // a disposable-mail domain
	Rejected           InviteOutcome = "rejected"            // another problem with the row: Err and Field say which
	NotRun             InviteOutcome = "not_run"             // not attempted: the call failed before reaching the row
)

// InviteResult is the outcome for one row, in input order.
type InviteResult struct {
	Row     int           `json:"row"`   // index in BulkInvite.Rows
	Email   string        `json:"email"` // canonical when valid, else as given
	Outcome InviteOutcome `json:"outcome"`
	// UserID is the created user, or the existing one when it lies in the
	// actor's reach; empty for a user outside it.
	UserID string `json:"user_id,omitempty"`
	// DuplicateOf is the index of the earlier row with the same email,
	// for a SkippedDuplicate row; JSON carries it for such rows only, 0
	// included.
	DuplicateOf int `json:"duplicate_of,omitempty"`
	// Token is the raw invitation token of an Invited row (also mailed
	// when the Manager has an outbox). It is never marshalled.
	Token string `json:"-"`
	// Err is why a row was rejected; Field the input field at fault.
	Err   error  `json:"-"`
	Field string `json:"field,omitempty"`
	Code  string `json:"code,omitempty"`    // ErrorCode(Err)
	Error string `json:"message,omitempty"` // Err's text, safe to show
}

// MarshalJSON writes duplicate_of for every SkippedDuplicate row: it is an
// index, and omitempty alone would drop a duplicate of row 0.
func (r InviteResult) MarshalJSON() ([]byte, error) {
	type plain InviteResult // without the method
	if r.Outcome != SkippedDuplicate {
		return json.Marshal(plain(r))
	}
	return json.Marshal(struct {
		plain
		DuplicateOf int `json:"duplicate_of"` // shadows the embedded one
	}{plain(r), r.DuplicateOf})
}

// inviteBatch is how many users one store write creates in InviteUsers.
const inviteBatch = 500

// InviteUsers adds every row of in and reports, row by row, what happened:
// invited, created, skipped (the user exists, an invitation is pending, or
// the email repeats an earlier row) or rejected (invalid or disposable
// address, unknown role or one the actor may not assign, an account outside
// the actor's reach, an unknown department or group). Rows are written in
// batches of 500 as they are checked, each row atomic with its audit event
// and its invitation email, so memory follows the batch, not the rows.
// The actor needs PermManageUsers over every row's account and must hold
// each row's role. The error is for failures of the whole call
// (authorisation, the store); rows written before a store failure stay
// written, and their results say so, the rest say NotRun.
func (m *Manager) InviteUsers(ctx context.Context, actorID string, in BulkInvite) ([]InviteResult, error) {
	act, err := m.userManager(ctx, actorID)
	if err != nil {
		return nil, err
	}
	if in.Role == "" {
		in.Role = RoleGeneral
	}
	b := &bulkRun{m: m, act: act, in: in, accounts: map[string]accountCheck{}, first: map[string]int{}}
	if _, err := b.account(ctx, in.AccountID); err != nil {
		return nil, err
	}
	results := make([]InviteResult, len(in.Rows))
	// Rows are prepared and written a batch at a time, so that the call
	// holds at most inviteBatch prepared users (records, events, sealed
	// emails) whatever the number of rows.
	pending := make([]int, 0, inviteBatch) // rows of the batch ready to write
	creates := make([]UserCreate, 0, inviteBatch)
	flush := func() error {
		var err error
		if in.DryRun {
			err = b.dryRun(ctx, results, pending)
		} else {
			err = b.write(ctx, results, pending, creates)
		}
		pending, creates = pending[:0], creates[:0]
		return err
	}
	for i := range in.Rows {
		r := &results[i]
		if err := ctx.Err(); err != nil {
			b.notRun(results)
			return results, err
		}
		c, err := b.prepare(ctx, i, r)
		if err != nil {
			b.notRun(results)
			return results, err
		}
		if r.Outcome == "" {
			pending, creates = append(pending, i), append(creates, c)
		}
		if len(pending) == inviteBatch {
			if err := flush(); err != nil {
				b.notRun(results)
				return results, err
			}
		}
	}
	if err := flush(); err != nil {
		b.notRun(results)
		return results, err
	}
	if err := b.dropStaleRefs(ctx, act); err != nil {
		return results, err
	}
	b.settleRepeats(results)
	return results, nil
}

// write stores one batch of prepared rows: creates[k] is row pending[k].
// When the store refuses the batch for a taken email, it settles the
// batch row by row. On a failure it marks the batch's unwritten rows
// NotRun and returns the error.
func (b *bulkRun) write(ctx context.Context, results []InviteResult, pending []int, creates []UserCreate) error {
	if len(creates) == 0 {
		return nil
	}
	err := b.m.store.CreateUsers(ctx, creates)
	switch {
	case err == nil:
		for k := range creates {
			results[pending[k]].Outcome = outcomeOf(creates[k].User)
			b.m.observe(ctx, creates[k].Event)
			b.created(creates[k].User)
		}
		return nil
	case errors.Is(err, ErrDuplicateEmail):
		// Someone holds one of these emails: settle the batch row by row.
		for k := range creates {
			if err := b.createOne(ctx, &results[pending[k]], creates[k]); err != nil {
				for _, j := range pending[k:] {
					results[j] = notRunResult(results[j])
				}
				return err
			}
		}
		return nil
	default:
		for _, j := range pending {
			results[j] = notRunResult(results[j])
		}
		return err
	}
}

// bulkRun is one InviteUsers call's state.
type bulkRun struct {
	m        *Manager
	act      actor
	in       BulkInvite
	accounts map[string]accountCheck // account ID -> what the actor may do there
	first    map[string]int          // canonical email -> first row holding it
	repeats  [][2]int                // (row, first row)
	refs     []UserRecord            // users created with a department or groups
}

// created notes a user written with a department or groups, which may
// have gone since they were checked (see References).
func (b *bulkRun) created(u UserRecord) {
	if holdsRefs(u) {
		b.refs = append(b.refs, u)
	}
}

// dropStaleRefs re-reads, once each, the accounts and groups the created
// users were given, now that they are written, and takes back (see
// Manager.dropStaleRefs) what is gone only from the users who hold it: a
// removal that this read does not see comes after the users were written,
// and its own pass over the account finds them.
func (b *bulkRun) dropStaleRefs(ctx context.Context, act actor) error {
	accounts := map[string]Account{}
	var groupIDs []string
	for _, u := range b.refs {
		if _, ok := accounts[u.AccountID]; !ok && u.Department != "" {
			a, err := b.m.store.Account(ctx, u.AccountID)
			if err != nil {
				return err
			}
			accounts[u.AccountID] = a
		}
		groupIDs = append(groupIDs, u.Groups...)
	}
	slices.Sort(groupIDs)
	live, err := b.m.liveGroups(ctx, slices.Compact(groupIDs))
	if err != nil {
		return err
	}
	for _, u := range b.refs {
		if refsGone(u, accounts[u.AccountID], live) {
			if _, _, _, err := b.m.dropStaleRefs(ctx, act, u.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

type accountCheck struct {
	acct Account
	err  error
}

// account returns an account the actor may add users to, from a cache.
func (b *bulkRun) account(ctx context.Context, id string) (Account, error) {
	if id == "" {
		id = b.in.AccountID
	}
	if c, ok := b.accounts[id]; ok {
		return c.acct, c.err
	}
	acct, err := b.m.authorizeAccount(ctx, b.act, id, PermManageUsers)
	if err != nil && !isNotFound(err) && !errors.Is(err, ErrInvalidInput) {
		return Account{}, err // the store failed, or the actor may not manage users
	}
	b.accounts[id] = accountCheck{acct, err}
	return acct, err
}

// prepare checks row i and builds its user, or sets r's outcome when the
// row is skipped or rejected. The error is for failures of the call.
func (b *bulkRun) prepare(ctx context.Context, i int, r *InviteResult) (UserCreate, error) {
	row := b.in.Rows[i]
	r.Row, r.Email = i, row.Email
	if row.Role == "" {
		row.Role = b.in.Role
	}
	if row.Password != "" {
		b.reject(r, fieldError(ErrInvalidInput, "password", "plain passwords are not taken in bulk; invite the user or import a hash"))
		return UserCreate{}, nil
	}
	row.Invite = !row.Disabled && row.PasswordHash == ""
	if e, err := NormalizeEmail(row.Email); err == nil {
		r.Email = e
		if j, dup := b.first[e]; dup {
			r.Outcome, r.DuplicateOf = SkippedDuplicate, j
			b.repeats = append(b.repeats, [2]int{i, j})
			return UserCreate{}, nil
		}
	}
	acct, err := b.account(ctx, row.AccountID)
	if err != nil && !isRowError(err) {
		return UserCreate{}, err // the store failed: the call fails
	}
	if err != nil {
		if isNotFound(err) {
			err = fieldError(ErrNotFound, "account_id", "is not an account the actor reaches")
		}
		b.reject(r, err)
		return UserCreate{}, nil
	}
	if _, err := b.m.role(row.Role); err != nil {
		b.reject(r, err)
		return UserCreate{}, nil
	}
	if !b.m.roleWithin(row.Role, b.act) {
		b.reject(r, fieldError(ErrTargetOutranks, "role", "holds more than the actor"))
		return UserCreate{}, nil
	}
	p, err := b.m.prepareUser(ctx, b.act, acct, row, false)
	if err != nil {
		if isRowError(err) {
			b.reject(r, err)
			return UserCreate{}, nil
		}
		return UserCreate{}, err
	}
	b.first[p.create.User.Email] = i
	r.UserID, r.Token = p.create.User.ID, p.token
	return p.create, nil
}

// isRowError reports whether an error from preparing a row is about the
// row (a refusal) rather than the call (the store, the context).
func isRowError(err error) bool {
	var e *Error
	return errors.As(err, &e) && !errors.Is(err, ErrStore)
}

func (b *bulkRun) reject(r *InviteResult, err error) {
	r.Outcome, r.Err, r.Code, r.Error = Rejected, err, ErrorCode(err), err.Error()
	switch {
	case errors.Is(err, ErrDisposableEmail):
		r.Outcome = RejectedDisposable
	case errors.Is(err, ErrInvalidEmail):
		r.Outcome = RejectedInvalid
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		r.Field = fe.Field
	}
	var pe *PasswordError
	if errors.As(err, &pe) {
		r.Field = "password"
	}
}

// outcomeOf is what a written row became.
func outcomeOf(u UserRecord) InviteOutcome {
	switch u.Status {
	case StatusDisabled:
		return CreatedDisabled
	case StatusActive:
		return CreatedActive
	}
	return Invited
}

// createOne writes one row on its own, or reports why the email is taken.
func (b *bulkRun) createOne(ctx context.Context, r *InviteResult, c UserCreate) error {
	for attempt := 0; attempt < 3; attempt++ {
		err := b.m.store.CreateUsers(ctx, []UserCreate{c})
		if err == nil {
			r.Outcome = outcomeOf(c.User)
			b.m.observe(ctx, c.Event)
			b.created(c.User)
			return nil
		}
		if !errors.Is(err, ErrDuplicateEmail) {
			return err
		}
		found, err := b.existing(ctx, r, c.User.Email)
		if err != nil {
			return err
		}
		if found {
			return nil
		}
		// removed meanwhile: try again
	}
	return ErrConflict
}

// existing sets r to the skip outcome for a user holding email, and
// reports whether there is one. Emails are unique across tenants; of a
// user outside the actor's reach the row says only that the email is taken.
func (b *bulkRun) existing(ctx context.Context, r *InviteResult, email string) (bool, error) {
	u, err := b.m.store.UserByEmail(ctx, email)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	r.Outcome, r.UserID, r.Token = SkippedExists, "", ""
	in, err := b.m.inReach(ctx, b.act, u)
	if err != nil {
		return false, err
	}
	if in {
		r.UserID = u.ID
		if u.Status == StatusInvited {
			r.Outcome = SkippedPending
		}
	}
	return true, nil
}

// dryRun fills in what the ready rows would become.
func (b *bulkRun) dryRun(ctx context.Context, results []InviteResult, pending []int) error {
	for n, i := range pending {
		r := &results[i]
		if err := ctx.Err(); err != nil {
			for _, j := range pending[n:] {
				results[j] = notRunResult(results[j])
			}
			return err
		}
		found, err := b.existing(ctx, r, r.Email)
		if err != nil {
			return err
		}
		if !found {
			row := b.in.Rows[i]
			switch {
			case row.Disabled:
				r.Outcome = CreatedDisabled
			case row.PasswordHash != "":
				r.Outcome = CreatedActive
			default:
				r.Outcome = Invited
			}
			r.UserID, r.Token = "", ""
		}
	}
	return nil
}

// settleRepeats gives each repeated row its first row's user.
func (b *bulkRun) settleRepeats(results []InviteResult) {
	for _, rep := range b.repeats {
		results[rep[0]].UserID = results[rep[1]].UserID
	}
}

// notRun marks every row that got no outcome as not run: those after the
// failure, and those prepared before it but not yet written (their user
// IDs and tokens never reached the store).
func (b *bulkRun) notRun(results []InviteResult) {
	for j := range results {
		if results[j].Outcome == "" {
			results[j] = notRunResult(results[j])
		}
	}
}

func notRunResult(r InviteResult) InviteResult {
	if r.Email == "" {
		return InviteResult{Row: r.Row, Outcome: NotRun}
	}
	return InviteResult{Row: r.Row, Email: r.Email, Outcome: NotRun}
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
		if c, err := canonicalDomain(strings.TrimSpace(d)); err == nil {
			set[c] = struct{}{}
		} else {
			set[strings.ToLower(strings.TrimSpace(d))] = struct{}{}
		}
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
