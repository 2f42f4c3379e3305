package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/bulk"
)

func (a *app) json(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *app) table() *table { return newTable(a.stdout) }

// table aligns tab-separated cells in columns (text/tabwriter) and writes
// the result on Flush, without the spaces tabwriter pads the empty cells
// of the last columns with.
type table struct {
	out io.Writer
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newTable(w io.Writer) *table {
	t := &table{out: w}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 4, 2, ' ', 0)
	return t
}

func (t *table) Write(p []byte) (int, error) { return t.tw.Write(p) }

// Flush writes the table out.
func (t *table) Flush() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	var b strings.Builder
	for line := range strings.Lines(t.buf.String()) {
		body, nl := strings.CutSuffix(line, "\n")
		b.WriteString(strings.TrimRight(body, " "))
		if nl {
			b.WriteByte('\n')
		}
	}
	t.buf.Reset()
	_, err := io.WriteString(t.out, b.String())
	return err
}

// readLine reads one line of standard input (a password), without its end.
func (a *app) readLine() (string, error) {
	s, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	s = strings.TrimRight(s, "\r\n")
	if s == "" {
		return "", errors.New("no password on standard input")
	}
	return s, nil
}

// needAccount refuses to run as System without --account: System has no
// account of its own.
func (a *app) needAccount(id string) error {
	if a.as == "" && id == "" {
		return usageError("--account ID is required when acting as System (or name an admin with -as EMAIL)")
	}
	return nil
}

func accountCreate(ctx context.Context, a *app, name string, args []string) error {
	fs := a.flags(name)
	parent := fs.String("parent", "", "the parent account's `ID` (default: a top-level account)")
	admin := fs.String("admin", "", "the first admin's `email`")
	first := fs.String("first", "", "the admin's first `name`")
	last := fs.String("last", "", "the admin's last `name`")
	pwStdin := fs.Bool("password-stdin", false, "read the admin's password from standard input instead of inviting them")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *admin == "" {
		return usageError("account create NAME --admin EMAIL --first F --last L")
	}
	nu := usermgmt.NewUser{Email: *admin, FirstName: *first, LastName: *last, Invite: true}
	if *pwStdin {
		if nu.Password, err = a.readLine(); err != nil {
			return err
		}
		nu.Invite = false
	}
	done, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	acct, c, err := a.m.CreateAccount(ctx, a.actor, usermgmt.NewAccount{ParentID: *parent, Name: pos[0], Admin: nu})
	if err != nil {
		return err
	}
	if *asJSON {
		return a.json(map[string]any{"account": acct, "admin": c.User})
	}
	fmt.Fprintf(a.stdout, "account %s %q\nadmin   %s %s (%s)\n", acct.ID, acct.Name, c.User.ID, c.User.Email, c.User.Status)
	if c.InvitationToken != "" && !a.outbox {
		a.noOutbox()
		fmt.Fprintf(a.stdout, "invitation token: %s\n", c.InvitationToken)
	}
	return nil
}

// queryFlags registers the filters of a user listing.
func queryFlags(fs *flag.FlagSet) func() usermgmt.UserQuery {
	account := fs.String("account", "", "the account `ID` whose subtree is listed (default: the actor's own)")
	search := fs.String("search", "", "keep users whose name or email contains `text`")
	statuses := fs.String("status", "", "keep users in these `statuses` (comma-separated)")
	roles := fs.String("role", "", "keep users with these `roles` (comma-separated)")
	dept := fs.String("department", "", "keep users of this `department`")
	group := fs.String("group", "", "keep members of the group with this `ID`")
	removed := fs.Bool("removed", false, "include removed users")
	return func() usermgmt.UserQuery {
		q := usermgmt.UserQuery{AccountID: *account, Search: *search, Roles: list(*roles), Department: *dept,
			GroupID: *group, IncludeRemoved: *removed}
		for _, s := range list(*statuses) {
			q.Statuses = append(q.Statuses, usermgmt.Status(strings.ToLower(s)))
		}
		return q
	}
}

func usersList(ctx context.Context, a *app, name string, args []string) error {
	fs := a.flags(name)
	query := queryFlags(fs)
	limit := fs.Int("limit", 0, "list at most `n` users (default: all)")
	asJSON := fs.Bool("json", false, "print JSON, one array")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("users list takes no arguments")
	}
	if err := a.needAccount(query().AccountID); err != nil {
		return err
	}
	done, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	q := query()
	users, err := collect(*limit, func(cursor string, n int) (usermgmt.Page[usermgmt.User], error) {
		q.Cursor, q.Limit = cursor, n
		return a.m.ListUsers(ctx, a.actor, q)
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return a.json(users)
	}
	names := map[string]string{}
	tw := a.table()
	fmt.Fprintln(tw, "EMAIL\tNAME\tROLE\tSTATUS\tACCOUNT\tID")
	for _, u := range users {
		acct, ok := names[u.AccountID]
		if !ok {
			acct = u.AccountID
			if ac, err := a.m.Account(ctx, a.actor, u.AccountID); err == nil {
				acct = ac.Name
			}
			names[u.AccountID] = acct
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Email, u.Name(), u.Role, u.Status, acct, u.ID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "%d users\n", len(users))
	return nil
}

func importFile(ctx context.Context, a *app, name string, args []string) error {
	fs := a.flags(name)
	account := fs.String("account", "", "the account `ID` of rows that name none, whose sub-accounts rows may name (default: the actor's own)")
	role := fs.String("role", "", "the `role` of rows that name none (default: general)")
	disabled := fs.Bool("disabled", false, "create users Disabled, without an invitation, unless their Active cell says yes")
	sheet := fs.String("sheet", "", "the XLSX sheet to read (default: the first)")
	dry := fs.Bool("dry-run", false, "check every row and report, writing nothing")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	strict := fs.Bool("strict", false, "exit with status 3 when any row is rejected")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("import FILE --account ID [--dry-run] [--json] [--strict]")
	}
	if err := a.needAccount(*account); err != nil {
		return err
	}
	done, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	rd, err := bulk.Open(ctx, pos[0], bulk.ReadOptions{Sheet: *sheet})
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	defer func() { _ = rd.Close() }()
	opts := bulk.ImportOptions{DryRun: *dry, AccountID: *account, Role: *role, CreateDisabled: *disabled}
	var bar *progress
	if a.tty {
		bar = newProgress(a.stderr, *dry)
		opts.Progress = bar.update
	}
	rep, err := bulk.Import(ctx, a.m, a.actor, rd, opts)
	bar.finish()
	if rep == nil {
		var fe *bulk.FileError
		if errors.As(err, &fe) {
			return fmt.Errorf("%s: %w", pos[0], err)
		}
		return err
	}
	if *asJSON {
		if jerr := a.json(rep); jerr != nil {
			return jerr
		}
	} else if perr := printReport(a.stdout, rep); perr != nil {
		return perr
	}
	if !*dry && rep.Counts[usermgmt.Invited] > 0 {
		a.noOutbox()
	}
	if err != nil {
		return err // a StopError: where it stopped, and why
	}
	if *strict && rep.Rejected() > 0 {
		fmt.Fprintf(a.stderr, "usermgmt: %d rows rejected (--strict)\n", rep.Rejected())
		return exitError(exitRows)
	}
	return nil
}

// outcomeText words an outcome for the report table.
func outcomeText(r bulk.RowResult, dry bool) string {
	would := func(future, past string) string {
		if dry {
			return "would " + future
		}
		return past
	}
	switch r.Outcome {
	case usermgmt.Invited:
		return would("invite", "invited")
	case usermgmt.CreatedActive:
		return would("create (active, imported hash)", "created (active, imported hash)")
	case usermgmt.CreatedDisabled:
		return would("create (disabled)", "created (disabled)")
	case usermgmt.SkippedExists:
		return "skipped: exists"
	case usermgmt.SkippedPending:
		return "skipped: invitation pending"
	case usermgmt.SkippedDuplicate:
		return fmt.Sprintf("skipped: duplicate of line %d", r.DuplicateOf)
	case usermgmt.RejectedInvalid:
		return "rejected: invalid email"
	case usermgmt.RejectedDisposable:
		return "rejected: disposable domain"
	case usermgmt.Rejected:
		return "rejected"
	case usermgmt.NotRun:
		return "not run"
	}
	return string(r.Outcome)
}

// printReport prints an import's report as a table and a summary line.
func printReport(w io.Writer, rep *bulk.Report) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "LINE\tEMAIL\tOUTCOME\tFIELD\tPROBLEM\tUSER ID")
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Line, oneLine(r.Email), outcomeText(r, rep.DryRun), r.Field, oneLine(r.Message), r.UserID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var parts []string
	for _, o := range []usermgmt.InviteOutcome{usermgmt.Invited, usermgmt.CreatedActive, usermgmt.CreatedDisabled,
		usermgmt.SkippedExists, usermgmt.SkippedPending, usermgmt.SkippedDuplicate} {
		if n := rep.Counts[o]; n > 0 {
			label := outcomeText(bulk.RowResult{Outcome: o}, rep.DryRun)
			if o == usermgmt.SkippedDuplicate {
				label = "skipped: duplicate"
			}
			parts = append(parts, fmt.Sprintf("%d %s", n, label))
		}
	}
	if n := rep.Rejected(); n > 0 {
		parts = append(parts, fmt.Sprintf("%d rejected", n))
	}
	if n := rep.Counts[usermgmt.NotRun]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d not run", n))
	}
	head := fmt.Sprintf("%d rows", len(rep.Rows))
	if rep.DryRun {
		head += " (dry run, nothing written)"
	}
	if len(rep.UnknownColumns) > 0 {
		parts = append(parts, "ignored columns: "+strings.Join(rep.UnknownColumns, ", "))
	}
	_, err := fmt.Fprintf(w, "%s: %s\n", head, strings.Join(parts, ", "))
	return err
}

// oneLine keeps a cell on one line of the table.
func oneLine(s string) string {
	return strings.NewReplacer("\n", " ", "\r", " ", "\t", " ").Replace(s)
}

func exportUsers(ctx context.Context, a *app, name string, args []string) error {
	fs := a.flags(name)
	query := queryFlags(fs)
	formatName := fs.String("format", "", "csv or xlsx (default: from the file's extension, else csv)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageError("export [FILE|-] [--format csv|xlsx]")
	}
	path := "-"
	if len(pos) == 1 {
		path = pos[0]
	}
	format := bulk.FormatCSV
	switch strings.ToLower(*formatName) {
	case "csv":
	case "xlsx":
		format = bulk.FormatXLSX
	case "":
		if strings.EqualFold(filepath.Ext(path), ".xlsx") {
			format = bulk.FormatXLSX
		}
	default:
		return usageError("--format must be csv or xlsx")
	}
	if err := a.needAccount(query().AccountID); err != nil {
		return err
	}
	done, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	if path == "-" {
		_, err := bulk.Export(ctx, a.m, a.actor, query(), a.stdout, format)
		return err
	}
	// A temporary file beside the target, renamed once complete: a failed
	// export never leaves a truncated file under the name asked for.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(f.Name()) }()
	n, err := bulk.Export(ctx, a.m, a.actor, query(), f, format)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "exported %d users to %s\n", n, path)
	return nil
}

func invite(ctx context.Context, a *app, name string, args []string) error {
	fs := a.flags(name)
	account := fs.String("account", "", "the account `ID` (default: the actor's own)")
	role := fs.String("role", "", "the `role` (default: general)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError("invite EMAIL... [--account ID] [--role R]")
	}
	if err := a.needAccount(*account); err != nil {
		return err
	}
	done, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	rows := make([]usermgmt.NewUser, len(pos))
	for i, e := range pos {
		rows[i] = usermgmt.NewUser{Email: e}
	}
	res, err := a.m.InviteUsers(ctx, a.actor, usermgmt.BulkInvite{AccountID: *account, Role: *role, Rows: rows})
	if err != nil && res == nil {
		return err
	}
	if *asJSON {
		if jerr := a.json(res); jerr != nil {
			return jerr
		}
	} else {
		tw := a.table()
		fmt.Fprintln(tw, "EMAIL\tOUTCOME\tPROBLEM\tUSER ID")
		for _, r := range res {
			rr := bulk.RowResult{Outcome: r.Outcome, DuplicateOf: r.DuplicateOf + 1}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Email, strings.Replace(outcomeText(rr, false), "line", "argument", 1),
				strings.TrimPrefix(r.Error, "usermgmt: "), r.UserID)
		}
		if ferr := tw.Flush(); ferr != nil {
			return ferr
		}
		if !a.outbox {
			for _, r := range res {
				if r.Token != "" {
					fmt.Fprintf(a.stdout, "invitation token for %s: %s\n", r.Email, r.Token)
				}
			}
		}
	}
	a.noOutbox()
	if err != nil {
		return err
	}
	for _, r := range res {
		if r.Err != nil {
			return exitError(exitFailed)
		}
	}
	return nil
}

func unlock(ctx context.Context, a *app, name string, args []string) error {
	fs := a.flags(name)
	withPassword := fs.Bool("password", false, "set a new password, read from standard input")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("unlock EMAIL [--password]")
	}
	pw := ""
	if *withPassword {
		if pw, err = a.readLine(); err != nil {
			return err
		}
	}
	done, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	u, err := a.user(ctx, pos[0])
	if err != nil {
		return err
	}
	if u, err = a.m.Unlock(ctx, a.actor, u.ID, pw); err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	fmt.Fprintf(a.stdout, "%s\t%s\n", u.Email, u.Status)
	return nil
}

// status runs ban, unban, disable, enable, reactivate and remove on each
// email in turn.
func status(ctx context.Context, a *app, name string, args []string) error {
	fs := a.flags(name)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError(name + " EMAIL...")
	}
	done, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	op := map[string]func(context.Context, string, string) (usermgmt.User, error){
		"ban": a.m.Ban, "unban": a.m.Unban, "disable": a.m.Disable, "enable": a.m.Enable,
		"reactivate": a.m.Reactivate, "remove": a.m.Remove,
	}[name]
	failed := false
	for _, email := range pos {
		u, err := a.user(ctx, email)
		if err == nil {
			u, err = op(ctx, a.actor, u.ID)
		}
		if err != nil {
			failed = true
			fmt.Fprintf(a.stderr, "usermgmt: %s: %s\n", email, strings.TrimPrefix(err.Error(), "usermgmt: "))
			continue
		}
		fmt.Fprintf(a.stdout, "%s\t%s\n", u.Email, u.Status)
	}
	if failed {
		return exitError(exitFailed)
	}
	return nil
}

// resend issues a new invitation to each invited user in turn (a new
// week, the old link void), queued for mailing like invite's.
func resend(ctx context.Context, a *app, name string, args []string) error {
	fs := a.flags(name)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError("resend EMAIL...")
	}
	done, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	failed := false
	for _, email := range pos {
		u, err := a.user(ctx, email)
		var inv usermgmt.Invitation
		if err == nil {
			inv, err = a.m.ResendInvitation(ctx, a.actor, u.ID)
		}
		if err != nil {
			failed = true
			fmt.Fprintf(a.stderr, "usermgmt: %s: %s\n", email, strings.TrimPrefix(err.Error(), "usermgmt: "))
			continue
		}
		fmt.Fprintf(a.stdout, "%s\tinvited until %s\n", inv.Email, inv.ExpiresAt.UTC().Format(time.RFC3339))
		if !a.outbox {
			fmt.Fprintf(a.stdout, "invitation token for %s: %s\n", inv.Email, inv.Token)
		}
	}
	a.noOutbox()
	if failed {
		return exitError(exitFailed)
	}
	return nil
}

func sweep(ctx context.Context, a *app, name string, args []string) error {
	fs := a.flags(name)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("sweep takes no arguments")
	}
	done, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	if a.actor != usermgmt.System {
		return errors.New("sweep runs as System: leave out -as")
	}
	res, err := a.m.Sweep(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return a.json(res)
	}
	fmt.Fprintf(a.stdout, "made inactive: %d\nunlocked: %d\n", res.Inactive, res.Unlocked)
	return nil
}

func history(ctx context.Context, a *app, name string, args []string) error {
	fs := a.flags(name)
	limit := fs.Int("limit", 0, "show at most `n` events, newest first (default: all)")
	asJSON := fs.Bool("json", false, "print JSON, one array")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("history EMAIL [--limit N]")
	}
	done, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	u, err := a.user(ctx, pos[0])
	if err != nil {
		return err
	}
	events, err := collect(*limit, func(cursor string, n int) (usermgmt.Page[usermgmt.AuditEvent], error) {
		return a.m.History(ctx, a.actor, usermgmt.AuditQuery{UserID: u.ID, Cursor: cursor, Limit: n})
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return a.json(events)
	}
	tw := a.table()
	fmt.Fprintln(tw, "AT\tACTOR\tACTION\tCHANGES")
	for _, ev := range events {
		actor := ev.ActorEmail
		if ev.ActorID == usermgmt.System {
			actor = "system"
		} else if actor == "" {
			actor = ev.ActorID
		}
		var cs []string
		for _, c := range ev.Changes {
			cs = append(cs, fmt.Sprintf("%s: %q → %q", c.Field, c.Old, c.New))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ev.At.UTC().Format(time.RFC3339), actor, ev.Action, oneLine(strings.Join(cs, "; ")))
	}
	return tw.Flush()
}

// collect reads a listing page by page, up to limit items (all of them when
// limit is 0), asking page for at most 1,000 at a time. It never returns
// nil, so that an empty listing prints as [] in JSON.
func collect[T any](limit int, page func(cursor string, n int) (usermgmt.Page[T], error)) ([]T, error) {
	n := 1000
	if limit > 0 && limit < n {
		n = limit
	}
	out := []T{}
	cursor := ""
	for {
		p, err := page(cursor, n)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
		if p.Next == "" || (limit > 0 && len(out) >= limit) {
			break
		}
		cursor = p.Next
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
