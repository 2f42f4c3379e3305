package redisstore

import (
	"context"
	"strconv"
	"time"

	"github.com/usermgmt/usermgmt"
)

// ClaimMessages implements usermgmt.Store: one claim.lua run walks the due
// index up to c.Now and leases the messages whose lease lapsed.
func (s *Store) ClaimMessages(ctx context.Context, c usermgmt.MessageClaim) ([]usermgmt.Message, error) {
	var e encoder
	now := e.time(c.Now)
	n, _ := strconv.ParseInt(now, 10, 64)
	next := strconv.FormatInt(n+1, 10)
	next = zeroTime[:20-len(next)] + next
	args := []any{s.prefix, c.Owner, now, next, e.time(c.LeaseUntil), c.Limit}
	if e.err != nil {
		return nil, broken(e.err)
	}
	res, err := s.runOnce(ctx, claimScript, args...).Result()
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return flats(res, decodeMessage)
}

// FinishMessage implements usermgmt.Store: one message_finish.lua run.
func (s *Store) FinishMessage(ctx context.Context, r usermgmt.MessageResult) error {
	var e encoder
	args := []any{s.prefix, r.ID, r.Owner, string(r.State), e.time(r.At), e.time(r.DueAt), r.Error}
	if e.err != nil {
		return broken(e.err)
	}
	return s.fail(ctx, s.runOnce(ctx, messageFinishScript, args...).Err())
}

// Messages implements usermgmt.Store from the index of the state's
// messages by ID: one messages.lua run. Only pending and dead messages are
// kept (a sent one is deleted), so any other state lists nothing.
func (s *Store) Messages(ctx context.Context, q usermgmt.MessageQuery) ([]usermgmt.Message, error) {
	if q.State != usermgmt.MessagePending && q.State != usermgmt.MessageDead {
		return nil, ctx.Err()
	}
	res, err := messagesScript.Run(ctx, s.rdb, nil, s.prefix, s.prefix+"outbox:"+string(q.State), q.After, q.Limit).Result()
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return flats(res, decodeMessage)
}

// Message implements usermgmt.Store: one HGETALL.
func (s *Store) Message(ctx context.Context, id string) (usermgmt.Message, error) {
	f, err := s.hash(ctx, "m:"+id)
	if err != nil {
		return usermgmt.Message{}, err
	}
	if len(f) == 0 {
		return usermgmt.Message{}, notFound("message")
	}
	m, err := decodeMessage(f)
	if err != nil {
		return usermgmt.Message{}, broken(err)
	}
	return m, nil
}

// RequeueMessage implements usermgmt.Store: one requeue.lua run.
func (s *Store) RequeueMessage(ctx context.Context, id string, dueAt time.Time) error {
	var e encoder
	args := []any{s.prefix, id, e.time(dueAt)}
	if e.err != nil {
		return broken(e.err)
	}
	return s.fail(ctx, s.runOnce(ctx, requeueScript, args...).Err())
}
