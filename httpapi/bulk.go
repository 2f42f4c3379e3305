package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/bulk"
)

// Import and export of spreadsheets (package bulk).
//
// POST {base}/import takes a multipart/form-data upload whose "file" part is
// a CSV or XLSX file of users, reads it with bulk.Reader under
// Options.ImportLimits, and applies its rows through Manager.InviteUsers:
// checked only with ?dry_run=true, written otherwise. The answer is the
// per-row report, by the file's line numbers: what became of each row, or
// why it was refused (a problem of the row's cells, an account or group
// that cannot be found, a refusal of the Manager). A file that cannot be
// read at all is a problem (422 invalid_file, 413 over the size bound).
//
// GET {base}/export streams the users a listing selects (the filters of
// GET /users) as CSV or XLSX (?format=), in the columns the import reads.
// Accounts are written by name, or by ID where two accounts in reach share
// the name; groups by name.

// ImportRow is one row of an import's report.
type ImportRow struct {
	Line    int                    `json:"line"`  // the row's line (CSV) or sheet row (XLSX)
	Email   string                 `json:"email"` // canonical when valid, else as written
	Outcome usermgmt.InviteOutcome `json:"outcome"`
	UserID  string                 `json:"user_id,omitempty"`
	// DuplicateOf is the line of the earlier row with the same email.
	DuplicateOf int    `json:"duplicate_of,omitempty"`
	Field       string `json:"field,omitempty"`
	Code        string `json:"code,omitempty"`
	Message     string `json:"message,omitempty"`
}

// ImportResponse is the report of an import.
type ImportResponse struct {
	DryRun bool   `json:"dry_run"`
	Format string `json:"format"` // "csv" or "xlsx"
	// UnknownColumns are the headers the import did not recognise and
	// ignored.
	UnknownColumns []string    `json:"unknown_columns"`
	Rows           []ImportRow `json:"rows"`
}

// importFields names the file's fields as the report does.
var importFields = map[bulk.Field]string{
	bulk.FieldEmail: "email", bulk.FieldFirstName: "first_name", bulk.FieldLastName: "last_name",
	bulk.FieldRole: "role", bulk.FieldAccount: "account", bulk.FieldDepartment: "department",
	bulk.FieldGroups: "groups", bulk.FieldActive: "active", bulk.FieldPasswordHash: "password_hash",
	bulk.FieldLocale: "locale",
}

// multipartOverhead is what the import allows beyond the file's own bound
// for the multipart framing.
const multipartOverhead = 64 << 10

func fileProblem(err error) error {
	var fe *bulk.FileError
	msg := "the file could not be read"
	if errors.As(err, &fe) {
		msg = strings.TrimPrefix(fe.Error(), "bulk: ")
	}
	if errors.Is(err, bulk.ErrTooLarge) {
		return &httpError{status: http.StatusRequestEntityTooLarge, code: "body_too_large", title: "request body too large", detail: msg}
	}
	if errors.Is(err, bulk.ErrRead) && !errors.As(err, &fe) {
		return err
	}
	return &httpError{status: http.StatusUnprocessableEntity, code: "invalid_file", title: "the file cannot be imported", detail: msg}
}

func (h *Handler) importUsers(c *call) error {
	q := newQuery(c.r, "dry_run", "account_id", "role", "sheet")
	dry, accountID, role, sheet := q.bool("dry_run"), q.str("account_id"), q.str("role"), q.str("sheet")
	if err := q.err(); err != nil {
		return err
	}
	limits := h.opts.ImportLimits
	maxBytes := limits.MaxBytes
	if maxBytes <= 0 {
		maxBytes = bulk.DefaultMaxBytes
	}
	c.r.Body = http.MaxBytesReader(c.w, c.r.Body, maxBytes+multipartOverhead)
	mr, err := c.r.MultipartReader()
	if err != nil {
		return bodyError("", "the body must be multipart/form-data with a file part")
	}
	var part io.Reader
	var name string
	for {
		p, err := mr.NextPart()
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return fileProblem(bulk.ErrTooLarge)
			}
			return bodyError("file", "is missing")
		}
		if p.FormName() == "file" {
			part, name = p, p.FileName()
			break
		}
	}
	rd, err := bulk.NewReader(c.ctx, part, bulk.ReadOptions{Name: name, Sheet: sheet, Limits: limits})
	if err != nil {
		return fileProblem(err)
	}
	defer func() { _ = rd.Close() }()

	out := ImportResponse{DryRun: dry, Format: strings.ToLower(rd.Format().String()), UnknownColumns: []string{}, Rows: []ImportRow{}}
	for _, col := range rd.Unknown() {
		out.UnknownColumns = append(out.UnknownColumns, col.Header)
	}
	res := &resolver{h: h, c: c}
	var rows []usermgmt.NewUser
	var lines []int // the report row of each row given to the Manager
	for {
		row, err := rd.Next(c.ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fileProblem(err)
		}
		r := ImportRow{Line: row.Line, Email: row.Email}
		if !row.OK() {
			re := row.Errors[0]
			r.Outcome, r.Code, r.Field = usermgmt.Rejected, usermgmt.ErrInvalidInput.Code(), importFields[re.Field]
			msgs := make([]string, len(row.Errors))
			for i, e := range row.Errors {
				msgs[i] = strings.TrimPrefix(e.Error(), "bulk: ")
			}
			r.Message = strings.Join(msgs, "; ")
			out.Rows = append(out.Rows, r)
			continue
		}
		nu, err := res.newUser(row)
		if err != nil {
			var fe *usermgmt.FieldError
			if !errors.As(err, &fe) {
				return err // the store, or the actor's own rights
			}
			r.Outcome, r.Code, r.Field, r.Message = usermgmt.Rejected, usermgmt.ErrorCode(err), fe.Field, fe.Reason
			out.Rows = append(out.Rows, r)
			continue
		}
		rows = append(rows, nu)
		lines = append(lines, len(out.Rows))
		out.Rows = append(out.Rows, r)
	}
	results, err := h.m.InviteUsers(c.ctx, c.actor, usermgmt.BulkInvite{AccountID: accountID, Role: role, Rows: rows, DryRun: dry})
	for i, ir := range results {
		r := &out.Rows[lines[i]]
		r.Email, r.Outcome, r.UserID, r.Field, r.Code = ir.Email, ir.Outcome, ir.UserID, ir.Field, ir.Code
		r.Message = strings.TrimPrefix(ir.Error, "usermgmt: ")
		if ir.Outcome == usermgmt.SkippedDuplicate {
			r.DuplicateOf = out.Rows[lines[ir.DuplicateOf]].Line
		}
	}
	if err != nil {
		if results == nil {
			return err
		}
		h.log.ErrorContext(c.ctx, "httpapi: import stopped", "error", err)
		return &importError{err: err, report: out}
	}
	return c.json(http.StatusOK, out)
}

// importError is an import's failure with its partial report.
type importError struct {
	err    error
	report ImportResponse
}

func (e *importError) Error() string { return e.err.Error() }
func (e *importError) Unwrap() error { return e.err }

// resolver turns a file's account and group names into IDs, within the
// actor's reach, remembering what it looked up.
type resolver struct {
	h        *Handler
	c        *call
	accounts *accountIndex
	groups   map[string]map[string][]string // account ID -> folded group name -> IDs
}

func (res *resolver) newUser(row *bulk.Row) (usermgmt.NewUser, error) {
	nu := usermgmt.NewUser{Email: row.Email, FirstName: row.FirstName, LastName: row.LastName, Role: row.Role,
		Department: row.Department, Locale: row.Locale, PasswordHash: row.PasswordHash}
	if row.Active != nil && !*row.Active {
		nu.Disabled = true
	}
	if row.Account != "" {
		if res.accounts == nil {
			idx, err := res.h.accountIndex(res.c.ctx, res.c.actor, "")
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
			acct = importAccount(res.c)
		}
		names, err := res.groupNames(acct)
		if err != nil {
			return nu, err
		}
		for _, g := range row.Groups {
			ids := names[strings.ToLower(strings.TrimSpace(g))]
			switch len(ids) {
			case 0:
				return nu, &usermgmt.FieldError{Field: "groups", Reason: fmt.Sprintf("the account has no group %q", g), Err: usermgmt.ErrInvalidInput}
			case 1:
				nu.Groups = append(nu.Groups, ids[0])
			default:
				return nu, &usermgmt.FieldError{Field: "groups", Reason: fmt.Sprintf("the account has several groups %q", g), Err: usermgmt.ErrInvalidInput}
			}
		}
	}
	return nu, nil
}

// importAccount is the account an import's rows default to.
func importAccount(c *call) string { return c.r.URL.Query().Get("account_id") }

// groupNames lists an account's live groups by folded name.
func (res *resolver) groupNames(accountID string) (map[string][]string, error) {
	if names, ok := res.groups[accountID]; ok {
		return names, nil
	}
	names := map[string][]string{}
	q := usermgmt.GroupListQuery{AccountID: accountID, Limit: 1000}
	for {
		p, err := res.h.m.ListGroups(res.c.ctx, res.c.actor, q)
		if errors.Is(err, usermgmt.ErrNotFound) {
			break // the Manager refuses the row for its account
		}
		if err != nil {
			return nil, err
		}
		for _, g := range p.Items {
			k := strings.ToLower(strings.TrimSpace(g.Name))
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

// accountIndex is the accounts of a subtree by ID and by folded name.
type accountIndex struct {
	byID   map[string]usermgmt.Account
	byName map[string][]string
}

func (h *Handler) accountIndex(ctx context.Context, actorID, rootID string) (*accountIndex, error) {
	idx := &accountIndex{byID: map[string]usermgmt.Account{}, byName: map[string][]string{}}
	q := usermgmt.AccountListQuery{RootID: rootID, Limit: 1000}
	for {
		p, err := h.m.Accounts(ctx, actorID, q)
		if err != nil {
			return nil, err
		}
		for _, a := range p.Items {
			idx.byID[a.ID] = a
			k := strings.ToLower(strings.TrimSpace(a.Name))
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
	switch ids := idx.byName[strings.ToLower(strings.TrimSpace(v))]; len(ids) {
	case 1:
		return ids[0], nil
	case 0:
		return "", &usermgmt.FieldError{Field: "account", Reason: fmt.Sprintf("no account %q in reach", v), Err: usermgmt.ErrNotFound}
	default:
		return "", &usermgmt.FieldError{Field: "account", Reason: fmt.Sprintf("several accounts are named %q; give its ID", v), Err: usermgmt.ErrInvalidInput}
	}
}

// label is how an export names an account: by name, or by ID when the
// name is not unique.
func (idx *accountIndex) label(id string) string {
	a, ok := idx.byID[id]
	if !ok || len(idx.byName[strings.ToLower(strings.TrimSpace(a.Name))]) != 1 {
		return id
	}
	return a.Name
}

func (h *Handler) exportUsers(c *call) error {
	q := newQuery(c.r, "format", "account_id", "search", "status", "role", "department", "group_id", "include_removed")
	uq := usermgmt.UserQuery{AccountID: q.str("account_id"), Search: q.str("search"), Roles: q.list("role"),
		Department: q.str("department"), GroupID: q.str("group_id"), IncludeRemoved: q.bool("include_removed"), Limit: 1000}
	for _, s := range q.list("status") {
		uq.Statuses = append(uq.Statuses, usermgmt.Status(s))
	}
	var format bulk.Format
	var ctype, ext string
	switch q.str("format") {
	case "", "csv":
		format, ctype, ext = bulk.FormatCSV, "text/csv; charset=utf-8", "csv"
	case "xlsx":
		format, ctype, ext = bulk.FormatXLSX, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"
	default:
		q.bad("format", "must be csv or xlsx")
	}
	if err := q.err(); err != nil {
		return err
	}
	// The first page, and the names, before anything is written: a refusal
	// is still a problem.
	p, err := h.m.ListUsers(c.ctx, c.actor, uq)
	if err != nil {
		return err
	}
	accounts, err := h.accountIndex(c.ctx, c.actor, "")
	if err != nil {
		return err
	}
	groupName := map[string]string{}
	hd := c.w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": "users." + ext}))
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	wr, err := bulk.NewWriter(c.w, format, bulk.WriteOptions{})
	if err != nil {
		return err
	}
	fail := func(err error) error {
		// Part of the file may be sent: end the response abruptly, so
		// that the client cannot take a truncated file for a whole one.
		h.log.ErrorContext(c.ctx, "httpapi: export stopped", "error", err)
		panic(http.ErrAbortHandler)
	}
	for {
		for _, u := range p.Items {
			rec := bulk.Record{Email: u.Email, FirstName: u.FirstName, LastName: u.LastName, Role: u.Role,
				Account: accounts.label(u.AccountID), Department: u.Department, Active: u.Status != usermgmt.StatusDisabled,
				Status: string(u.Status), Created: u.CreatedAt, LastLogin: u.LastLoginAt}
			for _, gid := range u.Groups {
				name, ok := groupName[gid]
				if !ok {
					g, err := h.m.Group(c.ctx, c.actor, gid)
					if err != nil {
						return fail(err)
					}
					name, groupName[gid] = g.Name, g.Name
				}
				rec.Groups = append(rec.Groups, name)
			}
			if err := wr.Write(rec); err != nil {
				return fail(err)
			}
		}
		if p.Next == "" {
			break
		}
		uq.Cursor = p.Next
		if p, err = h.m.ListUsers(c.ctx, c.actor, uq); err != nil {
			return fail(err)
		}
	}
	if err := wr.Close(); err != nil {
		return fail(err)
	}
	return nil
}
