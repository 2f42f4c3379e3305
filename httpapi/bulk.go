package httpapi

import (
	"errors"
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
// Options.ImportLimits, and applies its rows with bulk.Import (which hands
// them to Manager.InviteUsers): checked only with ?dry_run=true, written
// otherwise; ?account_id= and ?role= are the defaults of rows that name
// none (an unknown role is a 422 unknown_role). The answer is the
// per-row report, by the file's line numbers: what became of each row, or
// why it was refused (a problem of the row's cells, an account or group
// that cannot be found, a refusal of the Manager). A file that cannot be
// read at all is a problem (422 invalid_file, 413 over the size bound).
//
// GET {base}/export streams the users a listing selects (the filters of
// GET /users) as CSV or XLSX (?format=), in the columns the import reads,
// with bulk.Export. Accounts are written by name, or by ID where two
// accounts of the exported subtree share the name; groups by name.

// ImportRow is one row of an import's report: bulk's own row result,
// whose JSON is the report's (its Err is not encoded).
type ImportRow = bulk.RowResult

// ImportResponse is the report of an import.
type ImportResponse struct {
	DryRun bool   `json:"dry_run"`
	Format string `json:"format"` // "csv" or "xlsx"
	// UnknownColumns are the headers the import did not recognise and
	// ignored.
	UnknownColumns []string    `json:"unknown_columns"`
	Rows           []ImportRow `json:"rows"`
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
	q := newQuery(c.r, "dry_run", "account_id", "role", "sheet", "create_disabled")
	dry, accountID, role, sheet := q.bool("dry_run"), q.str("account_id"), q.str("role"), q.str("sheet")
	disabled := q.bool("create_disabled")
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

	rep, err := bulk.Import(c.ctx, h.m, c.actor, rd, bulk.ImportOptions{DryRun: dry, AccountID: accountID, Role: role, CreateDisabled: disabled})
	if rep == nil {
		var fe *bulk.FileError
		if errors.As(err, &fe) {
			return fileProblem(err)
		}
		return err // the actor's rights, the default account or role, the store
	}
	out := ImportResponse{DryRun: rep.DryRun, Format: rep.Format, UnknownColumns: rep.UnknownColumns, Rows: rep.Rows}
	if out.Rows == nil {
		out.Rows = []ImportRow{} // "rows": [] for a file of headers only
	}
	if err != nil {
		h.log.ErrorContext(c.ctx, "httpapi: import stopped", "error", err)
		var se *bulk.StopError
		if errors.As(err, &se) {
			err = se.Err
		}
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
	// Headers go out with the first byte of the file: a refusal before it
	// is still a problem.
	lw := &lazyWriter{w: c.w, start: func() {
		hd := c.w.Header()
		hd.Set("Content-Type", ctype)
		hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": "users." + ext}))
		hd.Set("Cache-Control", "no-store")
		hd.Set("X-Content-Type-Options", "nosniff")
	}}
	if _, err := bulk.Export(c.ctx, h.m, c.actor, uq, lw, format); err != nil {
		if !lw.started {
			return asParam(err, "statuses", "status")
		}
		// Part of the file is sent: end the response abruptly, so that
		// the client cannot take a truncated file for a whole one.
		h.log.ErrorContext(c.ctx, "httpapi: export stopped", "error", err)
		panic(http.ErrAbortHandler)
	}
	if !lw.started {
		lw.start() // an XLSX export always writes; a CSV one at least its header
	}
	return nil
}

// lazyWriter calls start before the first Write.
type lazyWriter struct {
	w       io.Writer
	start   func()
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.start()
	}
	return l.w.Write(p)
}
