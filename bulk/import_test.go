package bulk_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/bulk"
	"github.com/usermgmt/usermgmt/internal/fixture"
	"github.com/usermgmt/usermgmt/store/memstore"
)

const testPassword = "correct horse battery staple 7"

// sink records the notifications a Manager delivers.
type sink struct {
	mu sync.Mutex
	ns []usermgmt.Notification
}

func (s *sink) Send(_ context.Context, n usermgmt.Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ns = append(s.ns, n)
	return nil
}

func (s *sink) to() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, n := range s.ns {
		out = append(out, string(n.Kind)+" "+n.To)
	}
	return out
}

// env is a Manager over a memstore with an account tree:
// Root ─┬─ Client B ── Team B1
//
//	└─ Client C
//
// and a user admin of Client B (who may not assign "manager" or "admin").
type env struct {
	t                   *testing.T
	ctx                 context.Context
	store               usermgmt.Store
	m                   *usermgmt.Manager
	sent                *sink
	root, b, b1, c      usermgmt.Account
	rootAdmin, bAdmin   usermgmt.User
	userAdmin           usermgmt.User
	analysts            usermgmt.Group
	taken, pending, far usermgmt.User
}

func newEnv(t *testing.T, wrap ...func(usermgmt.Store) usermgmt.Store) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), sent: &sink{}}
	e.store = memstore.New()
	for _, w := range wrap {
		e.store = w(e.store)
	}
	var err error
	e.m, err = usermgmt.New(e.store, usermgmt.WithClock(usermgmt.NewFakeClock(fixture.Start)),
		usermgmt.WithHashParams(fixture.FastHash), usermgmt.WithRoles(usermgmt.PortalRoles()...),
		usermgmt.WithOutboxKeys(fixture.OutboxKey), usermgmt.WithSender(e.sent))
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.m.Close() })
	account := func(actor, parent, name, admin string) (usermgmt.Account, usermgmt.User) {
		a, c, err := e.m.CreateAccount(e.ctx, actor, usermgmt.NewAccount{ParentID: parent, Name: name,
			Admin: usermgmt.NewUser{Email: admin, FirstName: "Ad", LastName: "Min", Password: testPassword}})
		require.NoError(t, err)
		return a, c.User
	}
	e.root, e.rootAdmin = account(usermgmt.System, "", "Root", "root-admin@example.com")
	e.b, e.bAdmin = account(e.rootAdmin.ID, e.root.ID, "Client B", "b-admin@example.com")
	e.b1, _ = account(e.rootAdmin.ID, e.b.ID, "Team B1", "b1-admin@example.com")
	e.c, _ = account(e.rootAdmin.ID, e.root.ID, "Client C", "c-admin@example.com")
	e.userAdmin = e.create(usermgmt.NewUser{AccountID: e.b.ID, Email: "ua@example.com", FirstName: "U", LastName: "A",
		Role: "user_admin", Password: testPassword})
	e.analysts, err = e.m.CreateGroup(e.ctx, e.bAdmin.ID, usermgmt.NewGroup{AccountID: e.b.ID, Name: "Analysts"})
	require.NoError(t, err)
	e.taken = e.create(usermgmt.NewUser{AccountID: e.b.ID, Email: "taken@example.com", FirstName: "T", LastName: "K", Password: testPassword})
	e.pending = e.create(usermgmt.NewUser{AccountID: e.b.ID, Email: "pending@example.com", FirstName: "P", LastName: "N", Invite: true})
	e.far = e.create(usermgmt.NewUser{AccountID: e.c.ID, Email: "far@example.com", FirstName: "F", LastName: "R", Password: testPassword})
	e.deliver()
	e.sent.ns = nil
	return e
}

func (e *env) create(nu usermgmt.NewUser) usermgmt.User {
	e.t.Helper()
	c, err := e.m.CreateUser(e.ctx, usermgmt.System, nu)
	require.NoError(e.t, err)
	return c.User
}

func (e *env) deliver() {
	e.t.Helper()
	_, err := e.m.DeliverDue(e.ctx, usermgmt.DeliveryOptions{})
	require.NoError(e.t, err)
}

// users counts the users of the whole tree, removed ones included.
func (e *env) users() int {
	e.t.Helper()
	n := 0
	q := usermgmt.UserQuery{AccountID: e.root.ID, IncludeRemoved: true, Limit: 1000}
	for {
		p, err := e.m.ListUsers(e.ctx, usermgmt.System, q)
		require.NoError(e.t, err)
		n += len(p.Items)
		if p.Next == "" {
			return n
		}
		q.Cursor = p.Next
	}
}

func csvFile(t testing.TB, rows [][]string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	require.NoError(t, w.WriteAll(rows))
	return b.Bytes()
}

func reader(t testing.TB, name string, file []byte) *bulk.Reader {
	t.Helper()
	rd, err := bulk.NewReader(context.Background(), bytes.NewReader(file), bulk.ReadOptions{Name: name})
	require.NoError(t, err)
	t.Cleanup(func() { _ = rd.Close() })
	return rd
}

type outcome struct {
	Line    int
	Outcome usermgmt.InviteOutcome
	Field   string
	Code    string
}

func outcomes(rep *bulk.Report) []outcome {
	var out []outcome
	for _, r := range rep.Rows {
		out = append(out, outcome{r.Line, r.Outcome, r.Field, r.Code})
	}
	return out
}

func TestImport(t *testing.T) {
	e := newEnv(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("old password of hal"), bcrypt.MinCost)
	require.NoError(t, err)
	file := csvFile(t, [][]string{
		{"Email", "First Name", "Last Name", "Role", "Account", "Groups", "Active", "Password Hash", "Shoe Size"},
		{"ann@example.com", "Ann", "A", "", "", "analysts", "", "", "38"},   // 2: invited into Client B, in Analysts
		{"taken@example.com", "T", "K", "", "", "", "", "", ""},             // 3: exists
		{"pending@example.com", "P", "N", "", "", "", "", "", ""},           // 4: invitation pending
		{"ANN@Example.com", "Ann", "Again", "", "", "", "", "", ""},         // 5: repeats line 2
		{"not-an-address", "N", "A", "", "", "", "", "", ""},                // 6: invalid email
		{"x@10minutemail.com", "X", "D", "", "", "", "", "", ""},            // 7: disposable domain
		{"wiz@example.com", "W", "Z", "wizard", "", "", "", "", ""},         // 8: unknown role
		{"mgr@example.com", "M", "G", "manager", "", "", "", "", ""},        // 9: a role the user admin lacks
		{"cc@example.com", "C", "C", "", "Client C", "", "", "", ""},        // 10: account outside reach
		{"t1@example.com", "T", "One", "", "team b1", "", "", "", ""},       // 11: a sub-account by name
		{"t2@example.com", "T", "Two", "", e.b1.ID, "", "", "", ""},         // 12: a sub-account by ID
		{"dis@example.com", "D", "S", "", "", "", "no", "", ""},             // 13: created Disabled
		{"hal@example.com", "Hal", "N", "", "", "", "", string(hash), ""},   // 14: migrated with a bcrypt hash
		{"bad@example.com", "B", "D", "", "", "", "maybe", "", ""},          // 15: Active is not yes or no
		{"gen@example.com", "G", "N", "General", "", "", "", "", ""},        // 16: role by name, any case
		{"far@example.com", "F", "R", "", "", "", "", "", ""},               // 17: exists outside reach
		{"grp@example.com", "G", "R", "", "", "Gardeners", "", "", ""},      // 18: no such group
		{"bh@example.com", "B", "H", "", "", "", "", "$2b$04$tooshort", ""}, // 19: malformed hash
	})
	want := []outcome{
		{2, usermgmt.Invited, "", ""},
		{3, usermgmt.SkippedExists, "", ""},
		{4, usermgmt.SkippedPending, "", ""},
		{5, usermgmt.SkippedDuplicate, "", ""},
		{6, usermgmt.RejectedInvalid, "email", "invalid_email"},
		{7, usermgmt.RejectedDisposable, "email", "disposable_email"},
		{8, usermgmt.Rejected, "role", "unknown_role"},
		{9, usermgmt.Rejected, "role", "target_outranks"},
		{10, usermgmt.Rejected, "account", "not_found"},
		{11, usermgmt.Invited, "", ""},
		{12, usermgmt.Invited, "", ""},
		{13, usermgmt.CreatedDisabled, "", ""},
		{14, usermgmt.CreatedActive, "", ""},
		{15, usermgmt.Rejected, "active", "invalid_input"},
		{16, usermgmt.Invited, "", ""},
		{17, usermgmt.SkippedExists, "", ""},
		{18, usermgmt.Rejected, "groups", "invalid_input"},
		{19, usermgmt.Rejected, "password_hash", "invalid_input"},
	}
	before := e.users()

	// The dry run: every problem, nothing written, nothing sent.
	var seen []bulk.ImportProgress
	rep, err := bulk.Import(e.ctx, e.m, e.userAdmin.ID, reader(t, "users.csv", file), bulk.ImportOptions{DryRun: true,
		Progress: func(p bulk.ImportProgress) { seen = append(seen, p) }})
	require.NoError(t, err)
	require.True(t, rep.DryRun)
	require.Equal(t, "csv", rep.Format)
	require.Equal(t, []string{"Shoe Size"}, rep.UnknownColumns)
	require.Equal(t, want, outcomes(rep))
	require.Equal(t, 2, rep.Rows[3].DuplicateOf)
	require.Equal(t, e.taken.ID, rep.Rows[1].UserID)
	require.Equal(t, e.pending.ID, rep.Rows[2].UserID)
	require.Empty(t, rep.Rows[15].UserID, "a user outside the actor's reach is not named")
	require.Empty(t, rep.Rows[0].UserID, "a dry run creates no one")
	require.ErrorIs(t, rep.Rows[13].Err, bulk.ErrInvalidBoolean)
	require.ErrorIs(t, rep.Rows[6].Err, usermgmt.ErrUnknownRole)
	require.Contains(t, rep.Rows[8].Message, "Client C")
	require.Equal(t, 4, rep.Counts[usermgmt.Invited])
	require.Equal(t, 8, rep.Rejected())
	require.Zero(t, rep.StoppedAt)
	require.Equal(t, before, e.users())
	e.deliver()
	require.Empty(t, e.sent.to())
	last := seen[len(seen)-1]
	require.Equal(t, bulk.ImportProgress{Read: 18, Estimate: 18, Total: 18, Applied: 18}, last)

	// Apply: the same report, with the users.
	rep, err = bulk.Import(e.ctx, e.m, e.userAdmin.ID, reader(t, "users.csv", file), bulk.ImportOptions{})
	require.NoError(t, err)
	require.False(t, rep.DryRun)
	require.Equal(t, want, outcomes(rep))
	require.Equal(t, before+6, e.users())
	get := func(email string) usermgmt.User {
		t.Helper()
		u, err := e.m.UserByEmail(e.ctx, usermgmt.System, email)
		require.NoError(t, err)
		return u
	}
	ann := get("ann@example.com")
	require.Equal(t, ann.ID, rep.Rows[0].UserID)
	require.Equal(t, ann.ID, rep.Rows[3].UserID, "a repeated row names the first row's user")
	require.Equal(t, e.b.ID, ann.AccountID)
	require.Equal(t, []string{e.analysts.ID}, ann.Groups)
	require.Equal(t, usermgmt.StatusInvited, ann.Status)
	require.Equal(t, e.b1.ID, get("t1@example.com").AccountID)
	require.Equal(t, e.b1.ID, get("t2@example.com").AccountID)
	require.Equal(t, usermgmt.StatusDisabled, get("dis@example.com").Status)
	require.Equal(t, usermgmt.RoleGeneral, get("gen@example.com").Role)
	require.Equal(t, usermgmt.StatusActive, get("hal@example.com").Status)
	// The migrated user logs in with the old password.
	rec, err := e.store.UserByEmail(e.ctx, "hal@example.com")
	require.NoError(t, err)
	require.Equal(t, string(hash), rec.PasswordHash, "the imported hash is stored as it came")
	hal, err := e.m.Authenticate(e.ctx, "hal@example.com", "old password of hal")
	require.NoError(t, err)
	require.Equal(t, rep.Rows[12].UserID, hal.ID)
	rec, err = e.store.UserByEmail(e.ctx, "hal@example.com")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(rec.PasswordHash, "$argon2id$"), "re-hashed at the first login")
	// Each written user has its event, by the actor.
	h, err := e.m.History(e.ctx, usermgmt.System, usermgmt.AuditQuery{UserID: ann.ID})
	require.NoError(t, err)
	require.Len(t, h.Items, 1)
	require.Equal(t, usermgmt.ActionInvite, h.Items[0].Action)
	require.Equal(t, e.userAdmin.ID, h.Items[0].ActorID)
	// Invitations went out through the outbox, to the invited only.
	e.deliver()
	require.ElementsMatch(t, []string{"invitation ann@example.com", "invitation t1@example.com",
		"invitation t2@example.com", "invitation gen@example.com"}, e.sent.to())

	// Running the same file again writes nothing and skips every row written.
	e.sent.ns = nil
	rep, err = bulk.Import(e.ctx, e.m, e.userAdmin.ID, reader(t, "users.csv", file), bulk.ImportOptions{})
	require.NoError(t, err)
	require.Equal(t, before+6, e.users())
	for _, r := range rep.Rows {
		require.NotContains(t, []usermgmt.InviteOutcome{usermgmt.Invited, usermgmt.CreatedActive, usermgmt.CreatedDisabled}, r.Outcome, "line %d", r.Line)
	}
	require.Equal(t, usermgmt.SkippedPending, rep.Rows[0].Outcome)
	require.Equal(t, usermgmt.SkippedExists, rep.Rows[12].Outcome)
	e.deliver()
	require.Empty(t, e.sent.to())
}

func TestImportOptions(t *testing.T) {
	e := newEnv(t)
	file := csvFile(t, [][]string{
		{"E-mail", "Given name", "Surname", "Active"},
		{"one@example.com", "One", "O", ""},
		{"two@example.com", "Two", "T", "yes"},
		{"three@example.com", "Three", "T", "no"},
	})
	// As System, into Client C, as user admins, created Disabled unless the row says otherwise.
	rep, err := bulk.Import(e.ctx, e.m, usermgmt.System, reader(t, "u.csv", file), bulk.ImportOptions{
		AccountID: e.c.ID, Role: "user_admin", CreateDisabled: true})
	require.NoError(t, err)
	require.Equal(t, []outcome{{2, usermgmt.CreatedDisabled, "", ""}, {3, usermgmt.Invited, "", ""}, {4, usermgmt.CreatedDisabled, "", ""}}, outcomes(rep))
	for _, email := range []string{"one@example.com", "two@example.com", "three@example.com"} {
		u, err := e.m.UserByEmail(e.ctx, usermgmt.System, email)
		require.NoError(t, err)
		require.Equal(t, e.c.ID, u.AccountID)
		require.Equal(t, "user_admin", u.Role)
	}
	e.deliver()
	require.Equal(t, []string{"invitation two@example.com"}, e.sent.to())
}

func TestImportRefusals(t *testing.T) {
	e := newEnv(t)
	good := csvFile(t, [][]string{{"Email"}, {"z@example.com"}})
	before := e.users()
	gen := e.create(usermgmt.NewUser{AccountID: e.b.ID, Email: "gen@example.com", FirstName: "G", LastName: "N", Password: testPassword})
	before++
	cases := []struct {
		name  string
		actor string
		opts  bulk.ImportOptions
		want  error
	}{
		{"a general user", gen.ID, bulk.ImportOptions{}, usermgmt.ErrPermissionDenied},
		{"nobody", "", bulk.ImportOptions{}, usermgmt.ErrActorInactive},
		{"an account outside reach", e.userAdmin.ID, bulk.ImportOptions{AccountID: e.c.ID}, usermgmt.ErrNotFound},
		{"System without an account", usermgmt.System, bulk.ImportOptions{}, usermgmt.ErrInvalidInput},
		{"an unknown default role", e.userAdmin.ID, bulk.ImportOptions{Role: "wizard"}, usermgmt.ErrUnknownRole},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := bulk.Import(e.ctx, e.m, c.actor, reader(t, "u.csv", good), c.opts)
			require.ErrorIs(t, err, c.want)
			require.Nil(t, rep)
		})
	}
	// A file-level error, even after good rows, writes nothing.
	rd, err := bulk.NewReader(e.ctx, strings.NewReader("Email\na@example.com\nb@example.com\nc@example.com\n"),
		bulk.ReadOptions{Limits: bulk.Limits{MaxRows: 2}})
	require.NoError(t, err)
	rep, err := bulk.Import(e.ctx, e.m, e.userAdmin.ID, rd, bulk.ImportOptions{})
	require.ErrorIs(t, err, bulk.ErrTooManyRows)
	var fe *bulk.FileError
	require.ErrorAs(t, err, &fe)
	require.Nil(t, rep)
	require.Equal(t, before, e.users())
}

// bigFile is a CSV file of n new users.
func bigFile(t testing.TB, n int) []byte {
	rows := [][]string{{"Email", "First Name", "Last Name"}}
	for i := range n {
		rows = append(rows, []string{fixture.Email("bulk", i), "Bulk", fmt.Sprint(i)})
	}
	return csvFile(t, rows)
}

func TestImportCancelled(t *testing.T) {
	e := newEnv(t)
	file := bigFile(t, 1200)
	before := e.users()
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	var applied []int
	rep, err := bulk.Import(ctx, e.m, e.userAdmin.ID, reader(t, "u.csv", file), bulk.ImportOptions{
		Progress: func(p bulk.ImportProgress) {
			if p.Total > 0 && p.Applied > 0 {
				applied = append(applied, p.Applied)
				cancel() // after the first rows are applied
			}
		}})
	var se *bulk.StopError
	require.ErrorAs(t, err, &se)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 502, se.Line, "the 501st data row, on line 502, was not reached")
	require.Equal(t, 502, rep.StoppedAt)
	require.Equal(t, 500, rep.Counts[usermgmt.Invited])
	require.Equal(t, 700, rep.Counts[usermgmt.NotRun])
	require.Equal(t, usermgmt.NotRun, rep.Rows[500].Outcome)
	require.Equal(t, before+500, e.users())
	require.Equal(t, 500, applied[0])

	// Cancelled while reading, nothing is written and there is no report.
	ctx2, cancel2 := context.WithCancel(e.ctx)
	defer cancel2()
	rep2, err := bulk.Import(ctx2, e.m, e.userAdmin.ID, reader(t, "u.csv", file), bulk.ImportOptions{
		Progress: func(p bulk.ImportProgress) {
			if p.Total == 0 && p.Read >= 256 {
				cancel2()
			}
		}})
	require.ErrorIs(t, err, context.Canceled)
	require.Nil(t, rep2)
	require.Equal(t, before+500, e.users())

	// Running it again finishes the job and skips the rows already written.
	rep, err = bulk.Import(e.ctx, e.m, e.userAdmin.ID, reader(t, "u.csv", file), bulk.ImportOptions{})
	require.NoError(t, err)
	require.Equal(t, 500, rep.Counts[usermgmt.SkippedPending])
	require.Equal(t, 700, rep.Counts[usermgmt.Invited])
	require.Equal(t, before+1200, e.users())
}

// failingStore fails CreateUsers from its nth call on.
type failingStore struct {
	usermgmt.Store
	mu    sync.Mutex
	calls int
	nth   int
}

var errDiskFull = errors.New("disk full")

func (s *failingStore) CreateUsers(ctx context.Context, cs []usermgmt.UserCreate) error {
	s.mu.Lock()
	s.calls++
	fail := s.nth > 0 && s.calls >= s.nth
	s.mu.Unlock()
	if fail {
		return errDiskFull
	}
	return s.Store.CreateUsers(ctx, cs)
}

func TestImportStoreFailure(t *testing.T) {
	fs := &failingStore{}
	e := newEnv(t, func(s usermgmt.Store) usermgmt.Store { fs.Store = s; return fs })
	before := e.users()
	fs.mu.Lock()
	fs.nth = fs.calls + 2 // the second chunk fails
	fs.mu.Unlock()
	rep, err := bulk.Import(e.ctx, e.m, e.userAdmin.ID, reader(t, "u.csv", bigFile(t, 1200)), bulk.ImportOptions{})
	var se *bulk.StopError
	require.ErrorAs(t, err, &se)
	require.ErrorIs(t, err, usermgmt.ErrStore)
	require.ErrorIs(t, err, errDiskFull)
	require.Equal(t, 502, se.Line)
	require.Equal(t, 500, rep.Counts[usermgmt.Invited])
	require.Equal(t, 700, rep.Counts[usermgmt.NotRun])
	require.Equal(t, before+500, e.users())
}

func TestExportReimport(t *testing.T) {
	e := newEnv(t)
	// Users of every kind, one with a name that would be a formula.
	_, err := bulk.Import(e.ctx, e.m, e.rootAdmin.ID, reader(t, "u.csv", csvFile(t, [][]string{
		{"Email", "First Name", "Last Name", "Account", "Groups", "Active"},
		{"f@example.com", "=HYPERLINK(\"http://x\")", "+1", "Client B", "Analysts", ""},
		{"d@example.com", "Dee", "-D", "Team B1", "", "no"},
	})), bulk.ImportOptions{})
	require.NoError(t, err)
	_, err = e.m.Ban(e.ctx, e.rootAdmin.ID, e.far.ID)
	require.NoError(t, err)
	total := e.users()

	for _, format := range []bulk.Format{bulk.FormatCSV, bulk.FormatXLSX} {
		t.Run(format.String(), func(t *testing.T) {
			var out bytes.Buffer
			n, err := bulk.Export(e.ctx, e.m, e.rootAdmin.ID, usermgmt.UserQuery{Limit: 3}, &out, format)
			require.NoError(t, err)
			require.Equal(t, total, n)
			if format == bulk.FormatCSV {
				require.Contains(t, out.String(), `'=HYPERLINK`)
			}
			rd := reader(t, "users."+format.String(), out.Bytes())
			require.Empty(t, rd.Unknown())
			// The export reads back as it was written.
			var f *bulk.Row
			for row, err := range rd.All(e.ctx) {
				require.NoError(t, err)
				require.True(t, row.OK(), "%v", row.Errors)
				if row.Email == "f@example.com" {
					f = row
				}
			}
			require.NotNil(t, f)
			require.Equal(t, "=HYPERLINK(\"http://x\")", f.FirstName)
			require.Equal(t, "Client B", f.Account)
			require.Equal(t, []string{"Analysts"}, f.Groups)

			rep, err := bulk.Import(e.ctx, e.m, e.rootAdmin.ID, reader(t, "users."+format.String(), out.Bytes()), bulk.ImportOptions{})
			require.NoError(t, err)
			require.Len(t, rep.Rows, total)
			for _, r := range rep.Rows {
				require.Contains(t, []usermgmt.InviteOutcome{usermgmt.SkippedExists, usermgmt.SkippedPending}, r.Outcome, "line %d %s: %s", r.Line, r.Email, r.Message)
				require.NotEmpty(t, r.UserID)
			}
			require.Equal(t, total, e.users())
		})
	}

	// Filters: the banned user only, from Client C's subtree.
	var out bytes.Buffer
	n, err := bulk.Export(e.ctx, e.m, e.rootAdmin.ID, usermgmt.UserQuery{AccountID: e.c.ID, Statuses: []usermgmt.Status{usermgmt.StatusBanned}}, &out, bulk.FormatCSV)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Contains(t, out.String(), "far@example.com")
	require.Contains(t, out.String(), "Client C")

	// A refusal comes before anything is written.
	out.Reset()
	_, err = bulk.Export(e.ctx, e.m, e.userAdmin.ID, usermgmt.UserQuery{AccountID: e.c.ID}, &out, bulk.FormatXLSX)
	require.ErrorIs(t, err, usermgmt.ErrNotFound)
	require.Zero(t, out.Len())
}
