package usermgmt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
	"github.com/usermgmt/usermgmt/store/memstore"
)

func TestErrorCodesAndStatuses(t *testing.T) {
	for _, c := range []struct {
		err    error
		code   string
		status int
	}{
		{usermgmt.ErrInvalidInput, "invalid_input", 422},
		{usermgmt.ErrInvalidEmail, "invalid_email", 422},
		{usermgmt.ErrDuplicateEmail, "duplicate_email", 409},
		{usermgmt.ErrWeakPassword, "weak_password", 422},
		{usermgmt.ErrTokenInvalid, "token_invalid", 404},
		{usermgmt.ErrTokenExpired, "token_expired", 410},
		{usermgmt.ErrInvalidCredentials, "invalid_credentials", 401},
		{usermgmt.ErrWrongPassword, "wrong_password", 403},
		{usermgmt.ErrLocked, "locked", 423},
		{usermgmt.ErrAttemptsInFlight, "attempts_in_flight", 429},
		{usermgmt.ErrActorInactive, "actor_inactive", 401},
		{usermgmt.ErrPermissionDenied, "permission_denied", 403},
		{usermgmt.ErrTargetOutranks, "target_outranks", 403},
		{usermgmt.ErrNotGrantable, "not_grantable", 422},
		{usermgmt.ErrNotFound, "not_found", 404},
		{usermgmt.ErrConflict, "conflict", 409},
		{usermgmt.ErrStore, "store_failure", 503},
		{fmt.Errorf("wrapped: %w", usermgmt.ErrLastAdmin), "last_admin", 409},
		{&usermgmt.FieldError{Field: "name", Reason: "is empty", Err: usermgmt.ErrInvalidInput}, "invalid_input", 422},
		{&usermgmt.PasswordError{Reasons: []string{"too short"}}, "weak_password", 422},
		{&usermgmt.TransitionError{Action: usermgmt.ActionBan, From: usermgmt.StatusRemoved}, "invalid_transition", 409},
		{context.Canceled, "canceled", 499},
		{context.DeadlineExceeded, "timeout", http.StatusGatewayTimeout},
		{errors.New("something else"), "internal", 500},
		{nil, "", 200},
	} {
		require.Equal(t, c.code, usermgmt.ErrorCode(c.err), "%v", c.err)
		require.Equal(t, c.status, usermgmt.HTTPStatus(c.err), "%v", c.err)
	}
	var e *usermgmt.Error
	require.ErrorAs(t, usermgmt.ErrLocked, &e)
	require.Equal(t, "locked", e.Code())
	require.Equal(t, 423, e.Status())
	require.Equal(t, "user is locked", e.Message())
	require.Equal(t, "usermgmt: user is locked", e.Error())
	te := &usermgmt.TransitionError{Action: usermgmt.ActionUnban, From: usermgmt.StatusActive}
	require.Equal(t, "usermgmt: operation not allowed in the user's status: cannot unban a user who is active", te.Error())
}

// driverErr stands for a database driver's error, full of what must not
// reach an administrator.
type driverErr struct{}

func (driverErr) Error() string {
	return `UNIQUE constraint failed: users.email (2067) grace@example.com $argon2id$v=19`
}

func TestStoreErrorsShowOnlyTheSentinel(t *testing.T) {
	err := usermgmt.StoreError(usermgmt.ErrDuplicateEmail, driverErr{})
	require.Equal(t, usermgmt.ErrDuplicateEmail.Error(), err.Error())
	require.ErrorIs(t, err, usermgmt.ErrDuplicateEmail)
	var d driverErr
	require.ErrorAs(t, err, &d)
	require.Equal(t, usermgmt.ErrStore, usermgmt.StoreError(usermgmt.ErrStore, nil))

	// Whatever a store returns, the Manager shows only words safe to log.
	for _, c := range []struct {
		in   error
		want error
	}{
		{fmt.Errorf("%w: user grace@example.com: %w", usermgmt.ErrDuplicateEmail, driverErr{}), usermgmt.ErrDuplicateEmail},
		{driverErr{}, usermgmt.ErrStore},
		{fmt.Errorf("%w %w", usermgmt.ErrConflict, driverErr{}), usermgmt.ErrConflict},
	} {
		got := usermgmt.CleanErr(c.in)
		require.Equal(t, c.want.Error(), got.Error())
		require.ErrorIs(t, got, c.want)
		require.ErrorAs(t, got, &d)
	}
	require.Equal(t, context.Canceled, usermgmt.CleanErr(context.Canceled))
	require.NoError(t, usermgmt.CleanErr(nil))
	same := usermgmt.StoreError(usermgmt.ErrNotFound, driverErr{})
	require.Equal(t, same, usermgmt.CleanErr(same))
}

// leaky is a store whose reads fail with a driver's error.
type leaky struct{ usermgmt.Store }

func (leaky) User(context.Context, string) (usermgmt.UserRecord, error) {
	return usermgmt.UserRecord{}, driverErr{}
}

func TestManagerErrorsFromAFailingStore(t *testing.T) {
	bad, err := usermgmt.New(leaky{memstore.New()}, usermgmt.WithHashParams(fixture.FastHash))
	require.NoError(t, err)
	_, err = bad.SessionValid(context.Background(), fixture.ID(), 1)
	require.ErrorIs(t, err, usermgmt.ErrStore)
	require.Equal(t, "usermgmt: storage failure", err.Error())
	require.Equal(t, 503, usermgmt.HTTPStatus(err))
	var d driverErr
	require.ErrorAs(t, err, &d)
}

func TestNewValidatesOptions(t *testing.T) {
	s := memstore.New()
	_, err := usermgmt.New(nil)
	require.ErrorIs(t, err, usermgmt.ErrInvalidInput)
	for name, p := range map[string]usermgmt.Policy{
		"max failed":      {MaxFailedAttempts: -1},
		"lock duration":   {LockDuration: -time.Second},
		"attempt lease":   {AttemptLease: time.Millisecond},
		"attempt wait":    {AttemptWait: -time.Second},
		"record timeout":  {RecordTimeout: time.Millisecond},
		"invitation ttl":  {InvitationTTL: time.Second},
		"inactive months": {InactiveAfterMonths: -1},
		"activity":        {ActivityInterval: time.Millisecond},
		"reset ttl":       {ResetTTL: time.Second},
		"resets per hour": {ResetsPerHour: -1},
		"email change":    {EmailChangeTTL: time.Second},
		"min length":      {Password: usermgmt.PasswordPolicy{MinLength: 4}},
		"max length":      {Password: usermgmt.PasswordPolicy{MaxLength: 32}},
	} {
		_, err := usermgmt.New(s, usermgmt.WithPolicy(p))
		require.ErrorIs(t, err, usermgmt.ErrInvalidInput, name)
	}
	_, err = usermgmt.New(s, usermgmt.WithMaxConcurrentHashes(0))
	require.ErrorIs(t, err, usermgmt.ErrInvalidInput)
	_, err = usermgmt.New(s, usermgmt.WithClock(nil))
	require.ErrorIs(t, err, usermgmt.ErrInvalidInput)
	_, err = usermgmt.New(s, usermgmt.WithLogger(nil))
	require.ErrorIs(t, err, usermgmt.ErrInvalidInput)
	for _, k := range []usermgmt.OutboxKey{{ID: "", Key: make([]byte, 32)}, {ID: "k", Key: make([]byte, 16)}, {ID: strings.Repeat("k", 33), Key: make([]byte, 32)}} {
		_, err = usermgmt.New(s, usermgmt.WithOutboxKeys(k))
		require.ErrorIs(t, err, usermgmt.ErrInvalidInput)
	}
	_, err = usermgmt.New(s, usermgmt.WithOutboxKeys(fixture.OutboxKey, fixture.OutboxKey))
	require.ErrorIs(t, err, usermgmt.ErrInvalidInput)
	_, err = usermgmt.New(s, usermgmt.WithPermissions("has space"))
	require.ErrorIs(t, err, usermgmt.ErrInvalidInput)
	for _, r := range []usermgmt.Role{{Name: ""}, {Name: "with space"}, {Name: strings.Repeat("r", 65)},
		{Name: "r", Permissions: []usermgmt.Permission{""}}, {Name: "r", Except: []usermgmt.Permission{"x"}},
		{Name: "r", Title: strings.Repeat("t", 101)}} {
		_, err = usermgmt.New(s, usermgmt.WithRoles(r))
		require.ErrorIs(t, err, usermgmt.ErrInvalidInput, "%+v", r)
	}
	_, err = usermgmt.New(s, usermgmt.WithSender(brokenSender{}))
	require.Error(t, err)
	require.Contains(t, err.Error(), "template")
	// A Sender only ever sends from the outbox: without WithOutboxKeys
	// nothing would reach it, and invitations would go nowhere silently.
	_, err = usermgmt.New(s, usermgmt.WithSender(captureSender{}))
	require.ErrorIs(t, err, usermgmt.ErrNotConfigured)
	require.Contains(t, err.Error(), "WithOutboxKeys")
	_, err = usermgmt.New(s, usermgmt.WithSender(captureSender{}), usermgmt.WithOutboxKeys(fixture.OutboxKey))
	require.NoError(t, err)
}

type captureSender struct{}

func (captureSender) Send(context.Context, usermgmt.Notification) error { return nil }

type brokenSender struct{}

func (brokenSender) Send(context.Context, usermgmt.Notification) error { return nil }
func (brokenSender) Validate() error                                   { return errors.New("template invitation.html: unexpected EOF") }

func TestDefaultPolicy(t *testing.T) {
	p := usermgmt.DefaultPolicy()
	require.Equal(t, 10, p.MaxFailedAttempts)
	require.Equal(t, 168*time.Hour, p.InvitationTTL)
	require.Equal(t, 3, p.InactiveAfterMonths)
	require.Equal(t, time.Hour, p.ResetTTL)
	require.Equal(t, 3, p.ResetsPerHour)
	require.Equal(t, time.Duration(0), p.LockDuration)
	require.Equal(t, 12, p.Password.MinLength)
	require.Equal(t, 128, p.Password.MaxLength)
	require.NotEmpty(t, p.DisposableDomains)
	require.Contains(t, usermgmt.DefaultDisposableDomains(), "mailinator.com")
	m := newManager(t, usermgmt.WithPolicy(usermgmt.Policy{MaxFailedAttempts: 5}))
	require.Equal(t, 5, m.Policy().MaxFailedAttempts)
	require.Equal(t, 168*time.Hour, m.Policy().InvitationTTL)
}

func TestRoles(t *testing.T) {
	m := newManager(t)
	names := []string{}
	for _, r := range m.Roles() {
		names = append(names, r.Name)
	}
	require.Equal(t, []string{usermgmt.RoleAdmin, usermgmt.RoleGeneral}, names)
	admin, ok := m.Role(usermgmt.RoleAdmin)
	require.True(t, ok)
	require.True(t, admin.All)
	_, ok = m.Role("nope")
	require.False(t, ok)
	// RoleAdmin always holds everything, whatever an application registers.
	m = newManager(t, usermgmt.WithRoles(usermgmt.Role{Name: usermgmt.RoleAdmin, Title: "Owner", Permissions: []usermgmt.Permission{"x"}}))
	admin, _ = m.Role(usermgmt.RoleAdmin)
	require.True(t, admin.All)
	require.Equal(t, "Owner", admin.Title)
	portal := usermgmt.PortalRoles()
	require.Len(t, portal, 4)
	require.Equal(t, []usermgmt.Permission{usermgmt.PermAccountSettings, usermgmt.PermPricing, usermgmt.PermPayment}, portal[1].Except)
}

func TestUserViewJSON(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	rec := fixture.Record("acct", "grace@example.com", at)
	rec.Tokens = []usermgmt.Token{{Purpose: usermgmt.TokenInvitation, Hash: "secret-hash", ExpiresAt: at.Add(time.Hour)}}
	rec.AttemptLeases = []usermgmt.AttemptLease{{ID: "lease", Until: at}}
	rec.FailedAttempts = 3
	v := rec.View()
	require.True(t, v.PasswordSet)
	require.Equal(t, at.Add(time.Hour), v.InvitationExpiresAt)
	b, err := json.Marshal(v)
	require.NoError(t, err)
	s := string(b)
	for _, secret := range []string{"secret-hash", "argon2id", "lease", "failed", "hash", "token"} {
		require.NotContains(t, s, secret)
	}
	require.Contains(t, s, `"groups":[]`)
	require.Contains(t, s, `"grants":[]`)
	require.Contains(t, s, `"first_name":"Raw"`)
	require.Contains(t, s, `"password_set":true`)
	require.Contains(t, s, `"invitation_expires_at":"2026-03-04T06:06:07Z"`)
	require.NotContains(t, s, "last_login_at") // zero: left out
	require.NotContains(t, s, "0001-01-01")
	require.Equal(t, "Raw User", v.Name())
	require.Equal(t, "x@example.com", usermgmt.User{Email: "x@example.com"}.Name())
}

func TestPermanent(t *testing.T) {
	require.NoError(t, usermgmt.Permanent(nil))
	base := errors.New("550 no such user")
	p := usermgmt.Permanent(base)
	require.True(t, usermgmt.IsPermanent(p))
	require.True(t, usermgmt.IsPermanent(fmt.Errorf("sending: %w", p)))
	require.False(t, usermgmt.IsPermanent(base))
	require.ErrorIs(t, p, base)
	require.Equal(t, base.Error(), p.Error())
}

func TestOutboxSealing(t *testing.T) {
	m := newManager(t, usermgmt.WithOutboxKeys(fixture.OutboxKey))
	at := time.Date(2026, 11, 29, 12, 30, 0, 123456789, time.UTC)
	n := usermgmt.Notification{ID: "01900000-0000-7000-8000-000000000001", Kind: usermgmt.NotifyInvitation,
		To: "a@example.com", Locale: "de-CH", UserID: "u1", AccountID: "a1", AccountName: "Acme",
		FirstName: "Ada", LastName: "Löwe", Email: "a@example.com", ActorName: "Bo Admin",
		Token: "raw-token", ExpiresAt: at.AddDate(0, 0, 7), At: at}
	msg := func(payload []byte) usermgmt.Message {
		return usermgmt.Message{ID: n.ID, Kind: n.Kind, To: n.To, UserID: n.UserID, AccountID: n.AccountID, Payload: payload}
	}
	sealed, err := usermgmt.Seal(m, n)
	require.NoError(t, err)
	require.NotContains(t, string(sealed), "raw-token")
	require.NotContains(t, string(sealed), "Acme")
	got, err := usermgmt.Open(m, msg(sealed))
	require.NoError(t, err)
	require.Equal(t, n, got)
	// Bound to its row: another ID, kind, recipient, user or account does
	// not open it — whoever can write the table cannot redirect a link.
	for _, alter := range []func(*usermgmt.Message){
		func(x *usermgmt.Message) { x.ID = "01900000-0000-7000-8000-000000000002" },
		func(x *usermgmt.Message) { x.Kind = usermgmt.NotifyPasswordReset },
		func(x *usermgmt.Message) { x.To = "mallory@example.com" },
		func(x *usermgmt.Message) { x.UserID = "u2" },
		func(x *usermgmt.Message) { x.AccountID = "a2" },
	} {
		x := msg(sealed)
		alter(&x)
		_, err = usermgmt.Open(m, x)
		require.Error(t, err)
	}
	// Tampered or truncated: refused.
	bad := bytes.Clone(sealed)
	bad[len(bad)-1] ^= 1
	_, err = usermgmt.Open(m, msg(bad))
	require.Error(t, err)
	for _, p := range [][]byte{nil, {200}, {1}, {1, 40}, sealed[:len(sealed)-1], append([]byte{2}, sealed[1:]...)} {
		_, err = usermgmt.Open(m, msg(p))
		require.Error(t, err, "%x", p)
	}
	// A user address other than the recipient's and zero instants keep
	// their values.
	other := n
	other.Kind, other.To, other.Email, other.Token, other.ExpiresAt = usermgmt.NotifyLockoutAdmin, "admin@example.com", "a@example.com", "", time.Time{}
	sealed2, err := usermgmt.Seal(m, other)
	require.NoError(t, err)
	got, err = usermgmt.Open(m, usermgmt.Message{ID: other.ID, Kind: other.Kind, To: other.To, UserID: other.UserID, AccountID: other.AccountID, Payload: sealed2})
	require.NoError(t, err)
	require.Equal(t, other, got)
	require.True(t, got.ExpiresAt.IsZero())
	// Rotation: a new key seals, the old one still opens what waits.
	next := usermgmt.OutboxKey{ID: "test-2", Key: bytes.Repeat([]byte{7}, 32)}
	rotated := newManager(t, usermgmt.WithOutboxKeys(next, fixture.OutboxKey))
	got, err = usermgmt.Open(rotated, msg(sealed))
	require.NoError(t, err)
	require.Equal(t, n, got)
	fresh, err := usermgmt.Seal(rotated, n)
	require.NoError(t, err)
	_, err = usermgmt.Open(m, msg(fresh)) // the old Manager lacks the new key
	require.Error(t, err)
}

// FuzzSealedFields feeds arbitrary plaintexts to the reader of a sealed
// payload's fields: it never panics, and whatever it accepts is exactly
// what writing the result again produces.
func FuzzSealedFields(f *testing.F) {
	at := time.Date(2026, 11, 29, 12, 30, 0, 5, time.UTC)
	f.Add(usermgmt.SealedFields(usermgmt.Notification{To: "a@x.example", Email: "a@x.example", Token: "t", At: at}))
	f.Add(usermgmt.SealedFields(usermgmt.Notification{To: "b@x.example", Email: "a@x.example", AccountName: "Acme", ExpiresAt: at}))
	f.Add([]byte{})
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := usermgmt.Notification{To: "r@x.example"}
		if !usermgmt.ReadSealedFields(b, &n) {
			return
		}
		again := usermgmt.SealedFields(n)
		m := usermgmt.Notification{To: n.To}
		if !usermgmt.ReadSealedFields(again, &m) || m != n {
			t.Fatalf("%x read as %+v, which writes %x and reads back as %+v", b, n, again, m)
		}
	})
}

func TestBackoffAndJitter(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Minute, 2: 2 * time.Minute, 3: 4 * time.Minute, 10: time.Hour} {
		for i := 0; i < 20; i++ {
			d := usermgmt.Backoff(time.Minute, time.Hour, n)
			require.GreaterOrEqual(t, d, want/2, "attempt %d", n)
			require.LessOrEqual(t, d, want, "attempt %d", n)
		}
	}
	for i := 0; i < 50; i++ {
		d := usermgmt.Jitter(time.Hour)
		require.GreaterOrEqual(t, d, 54*time.Minute)
		require.LessOrEqual(t, d, 66*time.Minute)
	}
	require.Equal(t, time.Duration(1), usermgmt.Jitter(1))
}

func TestLoopsStopWithTheirContext(t *testing.T) {
	m := newManager(t, usermgmt.WithOutboxKeys(fixture.OutboxKey))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, m.RunSweeper(ctx, usermgmt.SweeperOptions{}), context.Canceled)
	require.ErrorIs(t, m.RunDelivery(ctx, usermgmt.DeliveryOptions{Sender: brokenSender{}}), context.Canceled)
	require.ErrorIs(t, newManager(t).RunDelivery(ctx, usermgmt.DeliveryOptions{}), usermgmt.ErrNotConfigured)
	require.NoError(t, m.Close())
	require.NoError(t, m.Close())
}

// TestLogsHoldNoSecrets: the logger hears of locks, deliveries and
// sweeps, and never a password, hash or token.
func TestLogsHoldNoSecrets(t *testing.T) {
	var buf bytes.Buffer
	clock := usermgmt.NewFakeClock(fixture.Start)
	m := newManager(t, usermgmt.WithLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		usermgmt.WithOutboxKeys(fixture.OutboxKey), usermgmt.WithClock(clock))
	ctx := context.Background()
	_, c, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Logged",
		Admin: usermgmt.NewUser{Email: "logged@example.com", FirstName: "L", LastName: "G", Password: fixture.Password}})
	require.NoError(t, err)
	inv, err := m.CreateUser(ctx, c.User.ID, usermgmt.NewUser{Email: "invitee@example.com", FirstName: "I", LastName: "N", Invite: true})
	require.NoError(t, err)
	u, err := m.CreateUser(ctx, c.User.ID, usermgmt.NewUser{Email: "victim@example.com", FirstName: "V", LastName: "C", Password: fixture.Password})
	require.NoError(t, err)
	for i := 0; i < 10; i++ {
		_, _ = m.Authenticate(ctx, u.User.Email, "wrong password "+fmt.Sprint(i))
	}
	fails := 0
	_, err = m.DeliverDue(ctx, usermgmt.DeliveryOptions{Sender: senderFunc(func(usermgmt.Notification) error {
		fails++
		return errors.New("421 try later")
	})})
	require.NoError(t, err)
	clock.Set(fixture.Start.AddDate(0, 4, 0))
	_, err = m.Sweep(ctx)
	require.NoError(t, err)
	log := buf.String()
	require.Contains(t, log, "locked")
	require.Contains(t, log, "retry")
	require.Contains(t, log, "sweep")
	for _, secret := range []string{fixture.Password, "wrong password", inv.InvitationToken, "$argon2id$"} {
		require.NotContains(t, log, secret)
	}
	require.Positive(t, fails)
}

type senderFunc func(usermgmt.Notification) error

func (f senderFunc) Send(_ context.Context, n usermgmt.Notification) error { return f(n) }

func TestStats(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()
	_, _ = m.Authenticate(ctx, "nobody@example.com", "whatever")
	s := m.Stats()
	require.Equal(t, uint64(1), s.DummyVerifications)
	require.Equal(t, uint64(0), s.PasswordVerifications)
	require.Equal(t, int64(0), s.HashesInFlight)
	require.Equal(t, int64(1), s.PeakHashesInFlight)
}

func TestInactivityRule(t *testing.T) {
	m := newManager(t)
	nov30 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	require.False(t, usermgmt.Idle(m, nov30, time.Date(2027, 3, 2, 11, 59, 59, 0, time.UTC)))
	require.True(t, usermgmt.Idle(m, nov30, time.Date(2027, 3, 2, 12, 0, 0, 0, time.UTC)))
	// The sweep's bound lies beyond every idle user's last activity.
	for day := 0; day < 400; day++ {
		now := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC).AddDate(0, 0, day)
		bound := usermgmt.IdleBound(m, now)
		for back := 80; back < 100; back++ {
			last := now.AddDate(0, 0, -back)
			if usermgmt.Idle(m, last, now) {
				require.True(t, last.Before(bound), "now %v last %v bound %v", now, last, bound)
			}
		}
	}
}

func TestFakeClock(t *testing.T) {
	c := usermgmt.NewFakeClock(fixture.Start)
	c.Advance(time.Hour)
	require.Equal(t, fixture.Start.Add(time.Hour), c.Now())
	require.WithinDuration(t, time.Now(), usermgmt.SystemClock{}.Now(), time.Minute)
}
