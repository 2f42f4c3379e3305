package usermgmt

import (
	"context"
	"time"
)

// safeStore is the Store as the Manager uses it: every error a store
// returns passes through cleanErr, so that whatever a store's driver says,
// what reaches the caller shows only the sentinel's words (the driver's
// error stays reachable with errors.As for the application's logs).
type safeStore struct{ s Store }

func (c safeStore) CreateAccount(ctx context.Context, a AccountCreate) error {
	return cleanErr(c.s.CreateAccount(ctx, a))
}

func (c safeStore) Account(ctx context.Context, id string) (Account, error) {
	a, err := c.s.Account(ctx, id)
	return a, cleanErr(err)
}

func (c safeStore) Accounts(ctx context.Context, q AccountQuery) ([]Account, error) {
	as, err := c.s.Accounts(ctx, q)
	return as, cleanErr(err)
}

func (c safeStore) UpdateAccount(ctx context.Context, up AccountUpdate) error {
	return cleanErr(c.s.UpdateAccount(ctx, up))
}

func (c safeStore) CreateUsers(ctx context.Context, cs []UserCreate) error {
	return cleanErr(c.s.CreateUsers(ctx, cs))
}

func (c safeStore) UpdateUser(ctx context.Context, up UserUpdate) error {
	return cleanErr(c.s.UpdateUser(ctx, up))
}

func (c safeStore) UpdateUsers(ctx context.Context, ups []UserUpdate) ([]error, error) {
	errs, err := c.s.UpdateUsers(ctx, ups)
	for i := range errs {
		errs[i] = cleanErr(errs[i])
	}
	return errs, cleanErr(err)
}

func (c safeStore) User(ctx context.Context, id string) (UserRecord, error) {
	u, err := c.s.User(ctx, id)
	return u, cleanErr(err)
}

func (c safeStore) UserByEmail(ctx context.Context, email string) (UserRecord, error) {
	u, err := c.s.UserByEmail(ctx, email)
	return u, cleanErr(err)
}

func (c safeStore) UserByToken(ctx context.Context, hash string) (UserRecord, error) {
	u, err := c.s.UserByToken(ctx, hash)
	return u, cleanErr(err)
}

func (c safeStore) UserAccess(ctx context.Context, id string) (UserRecord, []GroupStamp, error) {
	u, gs, err := c.s.UserAccess(ctx, id)
	return u, gs, cleanErr(err)
}

func (c safeStore) ListUsers(ctx context.Context, q ListQuery) ([]UserRecord, error) {
	us, err := c.s.ListUsers(ctx, q)
	return us, cleanErr(err)
}

func (c safeStore) StaleUsers(ctx context.Context, q StaleQuery) ([]UserRecord, error) {
	us, err := c.s.StaleUsers(ctx, q)
	return us, cleanErr(err)
}

func (c safeStore) ReserveAttempt(ctx context.Context, r AttemptReservation) (UserRecord, ReserveResult, error) {
	u, res, err := c.s.ReserveAttempt(ctx, r)
	return u, res, cleanErr(err)
}

func (c safeStore) FinishAttempt(ctx context.Context, o AttemptOutcome) (UserRecord, bool, error) {
	u, ok, err := c.s.FinishAttempt(ctx, o)
	return u, ok, cleanErr(err)
}

func (c safeStore) RecordActivity(ctx context.Context, a ActivityUpdate) (bool, error) {
	ok, err := c.s.RecordActivity(ctx, a)
	return ok, cleanErr(err)
}

func (c safeStore) History(ctx context.Context, q HistoryQuery) ([]AuditEvent, error) {
	evs, err := c.s.History(ctx, q)
	return evs, cleanErr(err)
}

func (c safeStore) CreateGroup(ctx context.Context, g Group, ev AuditEvent) error {
	return cleanErr(c.s.CreateGroup(ctx, g, ev))
}

func (c safeStore) UpdateGroup(ctx context.Context, up GroupUpdate) error {
	return cleanErr(c.s.UpdateGroup(ctx, up))
}

func (c safeStore) Groups(ctx context.Context, ids []string) ([]Group, error) {
	gs, err := c.s.Groups(ctx, ids)
	return gs, cleanErr(err)
}

func (c safeStore) ListGroups(ctx context.Context, q GroupQuery) ([]Group, error) {
	gs, err := c.s.ListGroups(ctx, q)
	return gs, cleanErr(err)
}

func (c safeStore) ClaimMessages(ctx context.Context, cl MessageClaim) ([]Message, error) {
	ms, err := c.s.ClaimMessages(ctx, cl)
	return ms, cleanErr(err)
}

func (c safeStore) FinishMessage(ctx context.Context, r MessageResult) error {
	return cleanErr(c.s.FinishMessage(ctx, r))
}

func (c safeStore) Messages(ctx context.Context, q MessageQuery) ([]Message, error) {
	ms, err := c.s.Messages(ctx, q)
	return ms, cleanErr(err)
}

func (c safeStore) RequeueMessage(ctx context.Context, id string, dueAt time.Time) error {
	return cleanErr(c.s.RequeueMessage(ctx, id, dueAt))
}

func (c safeStore) Message(ctx context.Context, id string) (Message, error) {
	msg, err := c.s.Message(ctx, id)
	return msg, cleanErr(err)
}
