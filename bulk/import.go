package bulk

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/usermgmt/usermgmt"
)

// ImportOptions configures Import. The zero value applies the file's rows
// to the actor's own account, inviting each user with the role "general".
type ImportOptions struct {
	// DryRun checks every row and reports what would become of it (the
	// outcomes then mean "would be"), writing nothing.
	DryRun bool
	// AccountID is the account of rows that name none, and the subtree in
	// which the Account column's names and IDs are looked up (the account
	// itself included). Empty means the actor's own account; required when
	// acting as usermgmt.System.
	AccountID string
	// Role is the role of rows that name none; empty means
	// usermgmt.RoleGeneral. A role that is not registered fails the call
	// with usermgmt.ErrUnknownRole before anything is read.
	Role string
	// CreateDisabled creates the users of rows whose Active cell is empty
	// (or whose file has no Active column) Disabled, without an invitation
	// and without sending anything, for an admin to enable later. By
	// default such rows are invited (their invitation mailed through the
	// Manager's outbox). A row saying Active "no" is always created
	// Disabled; one saying "yes" is always invited.
	//
	// Rows with a Password Hash are created Active with that hash (see
	// usermgmt.ParseImportedHash) unless they end up Disabled this way.
	CreateDisabled bool
	// Progress, when not nil, is called from Import's goroutine as rows are
	// read and as they are applied (see ImportProgress); it must not block
	// for long.
	Progress func(ImportProgress)
}

// ImportProgress is how far an Import has got. Import first reads the
// whole file (checking each row's cells, accounts and groups), then applies
// the rows in order; Total is known once reading is done.
type ImportProgress struct {
	// Read is the number of data rows read from the file so far.
	Read int
	// Estimate is the Reader's estimate of the file's data rows while it is
	// being read (see Progress.EstimatedRows), then Total.
	Estimate int
	// Total is the number of data rows in the file, or 0 while reading.
	Total int
	// Applied is the number of rows that have their outcome: written or
	// skipped (checked, in a dry run). It reaches Total when the import
	// completes.
	Applied int
}

// RowResult is what became of one row of the file (or, in a dry run,
// would become of it).
type RowResult struct {
	// Line is the row's 1-based line (CSV) or sheet row (XLSX).
	Line int `json:"line"`
	// Email is the canonical address when the cell holds a valid one, else
	// the cell as written.
	Email string `json:"email"`
	// Outcome is usermgmt.Invited, CreatedActive or CreatedDisabled for a
	// row written (or that would be), SkippedExists, SkippedPending or
	// SkippedDuplicate for one left alone, RejectedInvalid,
	// RejectedDisposable or Rejected for one refused, and NotRun for a row
	// the import did not reach because it stopped.
	Outcome usermgmt.InviteOutcome `json:"outcome"`
	// UserID is the user created, or the existing user the row is skipped
	// for when that user lies in the actor's reach. Empty in a dry run for
	// rows that would be created.
	UserID string `json:"user_id,omitempty"`
	// DuplicateOf is the line of the earlier row with the same address.
	DuplicateOf int `json:"duplicate_of,omitempty"`
	// Field names the file's column at fault in a rejected row: email,
	// first_name, last_name, role, account, department, groups, active,
	// password_hash or locale; empty when the problem is the whole row's.
	Field string `json:"field,omitempty"`
	// Code is the machine code of the refusal (usermgmt.ErrorCode):
	// invalid_email, disposable_email, unknown_role, target_outranks,
	// not_found, invalid_input...
	Code string `json:"code,omitempty"`
	// Message says what is wrong, fit to show an admin.
	Message string `json:"message,omitempty"`
	// Err is the refusal, for errors.Is: a usermgmt sentinel, or the
	// reader's *RowError values (joined) for problems of the cells.
	Err error `json:"-"`
}

// Report is the per-row outcome of an Import, in file order.
type Report struct {
	DryRun bool   `json:"dry_run"`
	Format string `json:"format"`          // "csv" or "xlsx"
	Sheet  string `json:"sheet,omitempty"` // the sheet read, for XLSX
	// UnknownColumns are the headers Import did not recognise and ignored.
	UnknownColumns []string `json:"unknown_columns"`
	// Rows holds one result per data row of the file (empty rows are not
	// data rows).
	Rows []RowResult `json:"rows"`
	// Counts is the number of rows of each outcome.
	Counts map[usermgmt.InviteOutcome]int `json:"counts"`
	// StoppedAt is the line of the first row not reached when the import
	// stopped (see StopError), or 0 when every row has its outcome.
	StoppedAt int `json:"stopped_at,omitempty"`
}

// Rejected returns the number of rows refused (Rejected, RejectedInvalid
// and RejectedDisposable).
func (r *Report) Rejected() int {
	return r.Counts[usermgmt.Rejected] + r.Counts[usermgmt.RejectedInvalid] + r.Counts[usermgmt.RejectedDisposable]
}

// StopError is Import's error when it stopped part way through applying
// (or checking) the rows: the context was cancelled, or the store failed.
// Rows before Line keep their outcome (in Apply, they stay written); Line
// and the rows after it are NotRun, except rows already settled without a
// write (rejected, or repeating an earlier row). Running the same file again is safe:
// rows already written are skipped as existing.
type StopError struct {
	Line int   // the 1-based line or sheet row of the first row not reached
	Err  error // why: ctx.Err(), or a usermgmt error such as ErrStore
}

// Error says where the import stopped and why.
func (e *StopError) Error() string {
	return fmt.Sprintf("bulk: the import stopped at line %d: %v", e.Line, e.Err)
}

// Unwrap returns the cause.
func (e *StopError) Unwrap() error { return e.Err }

// importChunk is how many rows Import hands the Manager at a time: one
// InviteUsers call, whose new users are written in one store batch, all or
// nothing, each with its audit event and its invitation email. Batches
// keep a 100,000-row import on SQLite within the time of one InviteUsers
// call; the chunk bounds the prepared rows held in memory and how much one
// failure leaves NotRun.
const importChunk = 500

// Import adds the users of a file to the Manager's store as actorID (a user
// holding usermgmt.PermManageUsers, or usermgmt.System), and reports what
// became of every row.
//
// It reads rd to the end first, checking each row: the reader's cell
// problems (*RowError), the Account column (an account ID or name within
// opts.AccountID's subtree, ignoring case), the Groups column (group names
// of the row's account). A file-level error (*FileError), a refusal of the
// call itself (usermgmt.ErrPermissionDenied, ErrActorInactive, ErrNotFound
// for opts.AccountID, ErrUnknownRole for opts.Role) or ctx's error while
// reading is returned with a nil Report, and nothing has been written.
//
// It then hands the rows to Manager.InviteUsers in order, importChunk (500)
// rows at a time, which checks the rest (address, disposable domain, role
// and whether the actor may assign it, department, existing users and
// pending invitations) and writes the chunk's new users in one store call,
// all or nothing, each with its audit event and its invitation email
// (queued in the outbox). A repeated address is
// SkippedDuplicate with the line of its first row. Cancelling ctx stops the
// import between rows: the Report is returned with a *StopError, and rows
// before StopError.Line stay written. Running the same file again skips
// every row already written (SkippedExists, or SkippedPending for an
// invited user), so a re-run is always safe.
//
// Import does not close rd.
func Import(ctx context.Context, m *usermgmt.Manager, actorID string, rd *Reader, opts ImportOptions) (*Report, error) {
	if m == nil || rd == nil {
		return nil, errors.New("bulk: Import needs a Manager and a Reader")
	}
	if opts.Role == "" {
		opts.Role = usermgmt.RoleGeneral
	}
	if _, ok := m.Role(opts.Role); !ok {
		return nil, &usermgmt.FieldError{Field: "role", Reason: fmt.Sprintf("%q is not registered", opts.Role), Err: usermgmt.ErrUnknownRole}
	}
	// The actor's right to add users to the default account, before reading.
	if _, err := m.InviteUsers(ctx, actorID, usermgmt.BulkInvite{AccountID: opts.AccountID, Role: opts.Role, DryRun: true}); err != nil {
		return nil, err
	}
	im := &importer{m: m, actorID: actorID, rd: rd, opts: opts, res: &resolver{m: m, actorID: actorID, root: opts.AccountID}}
	if err := im.read(ctx); err != nil {
		return nil, err
	}
	err := im.apply(ctx)
	im.rep.Counts = map[usermgmt.InviteOutcome]int{}
	for _, r := range im.rep.Rows {
		im.rep.Counts[r.Outcome]++
	}
	return im.rep, err
}

// importer is one Import call's state.
type importer struct {
	m       *usermgmt.Manager
	actorID string
	rd      *Reader
	opts    ImportOptions
	res     *resolver
	rep     *Report
	work    []pendingRow // rows read without problems, in file order
	applied int
}

// pendingRow is a row to hand the Manager: its place in the report and the
// user it asks for.
type pendingRow struct {
	at int
	nu usermgmt.NewUser
}

func (im *importer) progress(read, total int) {
	if im.opts.Progress == nil {
		return
	}
	est := total
	if total == 0 {
		est = im.rd.Progress().EstimatedRows
	}
	im.opts.Progress(ImportProgress{Read: read, Estimate: max(est, read), Total: total, Applied: im.applied})
}

// read reads every row, rejecting those with problems of their own and
// resolving account and group names of the others.
func (im *importer) read(ctx context.Context) error {
	rep := &Report{DryRun: im.opts.DryRun, Format: im.rd.Format().String(), Sheet: im.rd.Sheet(), UnknownColumns: []string{}, Rows: []RowResult{}}
	for _, c := range im.rd.Unknown() {
		rep.UnknownColumns = append(rep.UnknownColumns, c.Header)
	}
	im.rep = rep
	for row, err := range im.rd.All(ctx) {
		if err != nil {
			return err
		}
		r := RowResult{Line: row.Line, Email: row.Email}
		if !row.OK() {
			rowProblems(&r, row.Errors)
			rep.Rows = append(rep.Rows, r)
		} else {
			nu, err := im.res.newUser(ctx, row, im.opts)
			switch {
			case err == nil:
				im.work = append(im.work, pendingRow{at: len(rep.Rows), nu: nu})
			case isRowRefusal(err):
				refuse(&r, err)
			default:
				return err // the store, or the actor's own rights
			}
			rep.Rows = append(rep.Rows, r)
		}
		if n := len(rep.Rows); n%256 == 0 {
			im.progress(n, 0)
		}
	}
	im.progress(len(rep.Rows), len(rep.Rows))
	return nil
}

// first is the first row holding an address, for the rows repeating it.
type first struct {
	line   int
	userID string
}

// apply hands the rows to InviteUsers a chunk at a time.
func (im *importer) apply(ctx context.Context) error {
	rep := im.rep
	total := len(rep.Rows)
	im.applied = total - len(im.work) // rows rejected while reading have their outcome
	seen := make(map[string]first, len(im.work))
	for start := 0; start < len(im.work); start += importChunk {
		chunk := im.work[start:min(start+importChunk, len(im.work))]
		if err := ctx.Err(); err != nil {
			return im.stop(start, err)
		}
		// Rows repeating a row of an earlier chunk are settled here; those
		// repeating one of this chunk, by InviteUsers.
		rows := make([]usermgmt.NewUser, 0, len(chunk))
		sent := make([]int, 0, len(chunk)) // index in chunk of each row sent
		for k, p := range chunk {
			if e, err := usermgmt.NormalizeEmail(p.nu.Email); err == nil {
				if f, ok := seen[e]; ok {
					r := &rep.Rows[p.at]
					r.Email, r.Outcome, r.DuplicateOf, r.UserID = e, usermgmt.SkippedDuplicate, f.line, f.userID
					continue
				}
			}
			rows, sent = append(rows, p.nu), append(sent, k)
		}
		var results []usermgmt.InviteResult
		var err error
		if len(rows) > 0 {
			results, err = im.m.InviteUsers(ctx, im.actorID, usermgmt.BulkInvite{
				AccountID: im.opts.AccountID, Role: im.opts.Role, Rows: rows, DryRun: im.opts.DryRun})
		}
		notRun := -1 // index in chunk of the first row not reached
		for i, ir := range results {
			p := chunk[sent[i]]
			r := &rep.Rows[p.at]
			if ir.Outcome == usermgmt.NotRun {
				if notRun < 0 {
					notRun = sent[i]
				}
				continue
			}
			r.Email, r.Outcome, r.UserID = ir.Email, ir.Outcome, ir.UserID
			switch {
			case ir.Outcome == usermgmt.SkippedDuplicate:
				r.DuplicateOf = rep.Rows[chunk[sent[ir.DuplicateOf]].at].Line
			case ir.Err != nil:
				refuse(r, ir.Err)
			default:
				if _, ok := seen[ir.Email]; !ok {
					seen[ir.Email] = first{line: r.Line, userID: ir.UserID}
				}
			}
		}
		if err != nil {
			if notRun < 0 {
				// Refused before any row (the actor lost their rights
				// meanwhile): the whole chunk is not run.
				notRun = 0
			}
			return im.stop(start+notRun, err)
		}
		im.applied += len(chunk)
		im.progress(total, total)
	}
	return nil
}

// stop marks the rows from im.work[from] on that have no outcome as NotRun
// and returns the StopError naming the first of them.
func (im *importer) stop(from int, err error) error {
	line := 0
	for _, p := range im.work[from:] {
		r := &im.rep.Rows[p.at]
		if r.Outcome != "" && r.Outcome != usermgmt.NotRun {
			continue
		}
		*r = RowResult{Line: r.Line, Email: r.Email, Outcome: usermgmt.NotRun}
		if line == 0 {
			line = r.Line
		}
	}
	im.rep.StoppedAt = line
	im.applied = 0
	for _, r := range im.rep.Rows {
		if r.Outcome != usermgmt.NotRun {
			im.applied++
		}
	}
	im.progress(len(im.rep.Rows), len(im.rep.Rows))
	return &StopError{Line: line, Err: err}
}

// rowProblems rejects a row for the problems the reader found in it.
func rowProblems(r *RowResult, errs []*RowError) {
	r.Outcome, r.Code = usermgmt.Rejected, usermgmt.ErrInvalidInput.Code()
	r.Field = fieldName(errs[0].Field)
	msgs := make([]string, len(errs))
	joined := make([]error, len(errs))
	for i, e := range errs {
		msgs[i] = strings.TrimPrefix(e.Error(), "bulk: ")
		joined[i] = e
	}
	r.Message, r.Err = strings.Join(msgs, "; "), errors.Join(joined...)
}

// refuse rejects a row for a refusal of the Manager or of the resolver.
func refuse(r *RowResult, err error) {
	r.Outcome, r.Err, r.Code = usermgmt.Rejected, err, usermgmt.ErrorCode(err)
	switch {
	case errors.Is(err, usermgmt.ErrDisposableEmail):
		r.Outcome = usermgmt.RejectedDisposable
	case errors.Is(err, usermgmt.ErrInvalidEmail):
		r.Outcome = usermgmt.RejectedInvalid
	}
	r.Field = ""
	var fe *usermgmt.FieldError
	var pe *usermgmt.PasswordError
	switch {
	case errors.As(err, &fe):
		r.Field = columnOf(fe.Field)
	case errors.As(err, &pe):
		r.Field = "password_hash"
	case errors.Is(err, usermgmt.ErrInvalidEmail), errors.Is(err, usermgmt.ErrDisposableEmail):
		r.Field = "email"
	}
	r.Message = strings.TrimPrefix(err.Error(), "usermgmt: ")
}

// isRowRefusal reports whether an error from resolving a row is about the
// row rather than the call.
func isRowRefusal(err error) bool {
	var fe *usermgmt.FieldError
	return errors.As(err, &fe)
}

// fieldName names a reader field as the report does.
func fieldName(f Field) string {
	switch f {
	case FieldEmail:
		return "email"
	case FieldFirstName:
		return "first_name"
	case FieldLastName:
		return "last_name"
	case FieldRole:
		return "role"
	case FieldAccount:
		return "account"
	case FieldDepartment:
		return "department"
	case FieldGroups:
		return "groups"
	case FieldActive:
		return "active"
	case FieldPasswordHash:
		return "password_hash"
	case FieldLocale:
		return "locale"
	}
	return ""
}

// columnOf names the file's column for a field of usermgmt.NewUser.
func columnOf(field string) string {
	switch field {
	case "account_id":
		return "account"
	case "disabled":
		return "active"
	case "password":
		return "password_hash"
	}
	return field
}

// resolver turns a file's account, group and role names into what the
// Manager takes, within the actor's reach, remembering what it looked up.
type resolver struct {
	m        *usermgmt.Manager
	actorID  string
	root     string // the subtree the Account column is looked up in
	accounts *accountIndex
	groups   map[string]map[string][]string // account ID -> folded group name -> IDs
	roles    map[string]string              // role as written -> registered name
}

// newUser turns a row without problems into the user it asks for.
func (res *resolver) newUser(ctx context.Context, row *Row, opts ImportOptions) (usermgmt.NewUser, error) {
	nu := usermgmt.NewUser{Email: row.Email, FirstName: row.FirstName, LastName: row.LastName,
		Role: res.role(row.Role), Department: row.Department, Locale: row.Locale, PasswordHash: row.PasswordHash}
	if row.Active != nil {
		nu.Disabled = !*row.Active
	} else {
		nu.Disabled = opts.CreateDisabled
	}
	if row.Account != "" {
		if res.accounts == nil {
			idx, err := loadAccounts(ctx, res.m, res.actorID, res.root)
			if err != nil {
				return nu, err
			}
			res.accounts = idx
		}
		id, err := res.accounts.resolve(row.Account)
		if err != nil {
			return nu, err
		}
		nu.AccountID = id
	}
	if len(row.Groups) > 0 {
		acct := nu.AccountID
		if acct == "" {
			acct = res.root
		}
		names, err := res.groupNames(ctx, acct)
		if err != nil {
			return nu, err
		}
		for _, g := range row.Groups {
			switch ids := names[fold(g)]; len(ids) {
			case 0:
				return nu, &usermgmt.FieldError{Field: "groups", Reason: fmt.Sprintf("the account has no group %q", clip(g, 64)), Err: usermgmt.ErrInvalidInput}
			case 1:
				nu.Groups = append(nu.Groups, ids[0])
			default:
				return nu, &usermgmt.FieldError{Field: "groups", Reason: fmt.Sprintf("the account has several groups %q", clip(g, 64)), Err: usermgmt.ErrInvalidInput}
			}
		}
	}
	return nu, nil
}

// role finds a registered role by its name, ignoring case; a name that
// matches none is returned as written, for the Manager to refuse.
func (res *resolver) role(name string) string {
	if name == "" {
		return ""
	}
	if r, ok := res.roles[name]; ok {
		return r
	}
	if res.roles == nil {
		res.roles = map[string]string{}
	}
	r := name
	if _, ok := res.m.Role(name); !ok {
		for _, reg := range res.m.Roles() {
			if strings.EqualFold(reg.Name, name) {
				r = reg.Name
				break
			}
		}
	}
	res.roles[name] = r
	return r
}

// groupNames lists an account's live groups by folded name.
func (res *resolver) groupNames(ctx context.Context, accountID string) (map[string][]string, error) {
	if names, ok := res.groups[accountID]; ok {
		return names, nil
	}
	names := map[string][]string{}
	q := usermgmt.GroupListQuery{AccountID: accountID, Limit: 1000}
	for {
		p, err := res.m.ListGroups(ctx, res.actorID, q)
		if errors.Is(err, usermgmt.ErrNotFound) {
			break // the Manager refuses the row for its account
		}
		if err != nil {
			return nil, err
		}
		for _, g := range p.Items {
			k := fold(g.Name)
			names[k] = append(names[k], g.ID)
		}
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	if res.groups == nil {
		res.groups = map[string]map[string][]string{}
	}
	res.groups[accountID] = names
	return names, nil
}

func fold(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// accountIndex is the accounts of a subtree by ID and by folded name.
type accountIndex struct {
	byID   map[string]usermgmt.Account
	byName map[string][]string
}

// loadAccounts indexes the accounts of rootID's subtree (empty: the actor's
// own account's) that the actor reaches.
func loadAccounts(ctx context.Context, m *usermgmt.Manager, actorID, rootID string) (*accountIndex, error) {
	idx := &accountIndex{byID: map[string]usermgmt.Account{}, byName: map[string][]string{}}
	q := usermgmt.AccountListQuery{RootID: rootID, Limit: 1000}
	for {
		p, err := m.Accounts(ctx, actorID, q)
		if err != nil {
			return nil, err
		}
		for _, a := range p.Items {
			idx.byID[a.ID] = a
			k := fold(a.Name)
			idx.byName[k] = append(idx.byName[k], a.ID)
		}
		if p.Next == "" {
			return idx, nil
		}
		q.Cursor = p.Next
	}
}

// resolve finds an account by ID or by its name, ignoring case.
func (idx *accountIndex) resolve(v string) (string, error) {
	if _, ok := idx.byID[v]; ok {
		return v, nil
	}
	switch ids := idx.byName[fold(v)]; len(ids) {
	case 1:
		return ids[0], nil
	case 0:
		return "", &usermgmt.FieldError{Field: "account", Reason: fmt.Sprintf("no account %q in reach", clip(v, 64)), Err: usermgmt.ErrNotFound}
	default:
		return "", &usermgmt.FieldError{Field: "account", Reason: fmt.Sprintf("several accounts are named %q; give its ID", clip(v, 64)), Err: usermgmt.ErrInvalidInput}
	}
}

// label is how an export names an account: by name, or by ID when the
// name is not unique in the index.
func (idx *accountIndex) label(id string) string {
	a, ok := idx.byID[id]
	if !ok || len(idx.byName[fold(a.Name)]) != 1 {
		return id
	}
	return a.Name
}
