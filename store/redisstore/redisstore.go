package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usermgmt/usermgmt"
)

// Options configure a Store.
type Options struct {
	// Prefix starts every key the store uses. Default "usermgmt:".
	Prefix string
}

// Store is a usermgmt.Store on Redis. It is safe for concurrent use, and any
// number of Stores in any number of processes may share one Redis when they
// use the same prefix.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ usermgmt.Store = (*Store)(nil)

// New returns a Store on the client. The client stays the caller's to close.
//
// A redis.Client (from NewClient, NewFailoverClient or NewUniversalClient)
// must have Options.ContextTimeoutEnabled set: without it go-redis bounds a
// call by its ReadTimeout and retries instead of by the context, so a
// stalled Redis would hold every call seconds past its context's deadline,
// and the store could not keep the Store contract's promise to honour
// contexts. New refuses such a client rather than break that promise
// silently.
//
// A redis.ClusterClient or redis.Ring is refused: both spread keys over
// several servers, and each step of the store must see all of its keys on
// one (see the package documentation).
func New(rdb redis.UniversalClient, opts Options) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("redisstore: nil client")
	}
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return nil, errors.New("redisstore: Redis Cluster is not supported (a script's keys span hash slots)")
	case *redis.Ring:
		return nil, errors.New("redisstore: redis.Ring is not supported (it shards keys that one script must see together)")
	case *redis.Client:
		if !c.Options().ContextTimeoutEnabled {
			return nil, errors.New("redisstore: the client needs Options.ContextTimeoutEnabled = true; " +
				"without it a stalled Redis holds calls past their context deadline")
		}
	}
	if opts.Prefix == "" {
		opts.Prefix = "usermgmt:"
	}
	return &Store{rdb: rdb, prefix: opts.Prefix}, nil
}

// Prefix returns the key prefix the store uses.
func (s *Store) Prefix() string { return s.prefix }

// Client returns the Redis client the store uses.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// The refusals scripts report ("USERMGMT <code> <what>") and the sentinels
// they stand for. <what> is one of a few fixed words, never data.
var (
	refusals = map[string]error{
		"NOTFOUND":  usermgmt.ErrNotFound,
		"CONFLICT":  usermgmt.ErrConflict,
		"DUPEMAIL":  usermgmt.ErrDuplicateEmail,
		"DUPID":     usermgmt.ErrDuplicateID,
		"DUPNAME":   usermgmt.ErrDuplicateName,
		"LASTADMIN": usermgmt.ErrLastAdmin,
	}
	refusedWhat = map[string]bool{"user": true, "account": true, "event": true, "message": true, "token": true, "group": true}
)

// refusal maps a script's refusal onto its sentinel, or returns nil for
// any other text.
func refusal(text string) error {
	code, what, _ := strings.Cut(text, " ")
	sentinel, ok := refusals[code]
	switch {
	case !ok:
		return nil
	case code == "DUPEMAIL" || code == "DUPNAME" || !refusedWhat[what]:
		return sentinel
	}
	return fmt.Errorf("%w: %s", sentinel, what)
}

// fail turns what a Redis call returned into the error the Store contract
// asks for: a script's refusal becomes its sentinel; a context error
// passes through, and a failure while ctx was ending reports ctx's error
// (the driver's error stays reachable with errors.As); anything else
// matches usermgmt.ErrStore, with text that shows nothing of the driver's.
func (s *Store) fail(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var re redis.Error
	if errors.As(err, &re) {
		if text, ok := strings.CutPrefix(re.Error(), "USERMGMT "); ok {
			if r := refusal(text); r != nil {
				return r
			}
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if cerr := ctx.Err(); cerr != nil {
		return usermgmt.StoreError(cerr, err)
	}
	// go-redis sets the socket's deadline to ctx's, and the socket can
	// time out a moment before ctx's own timer marks it done. (The clock is
	// read here only to tell which deadline ended the call.)
	var timeout interface{ Timeout() bool }
	if d, ok := ctx.Deadline(); ok && errors.As(err, &timeout) && timeout.Timeout() && !time.Now().Before(d) {
		return usermgmt.StoreError(context.DeadlineExceeded, err)
	}
	return usermgmt.StoreError(usermgmt.ErrStore, err)
}

// broken reports stored data or a reply the store cannot read.
func broken(err error) error { return usermgmt.StoreError(usermgmt.ErrStore, err) }

func notFound(what string) error { return fmt.Errorf("%w: %s", usermgmt.ErrNotFound, what) }

// hash reads a hash; an empty map means there is no such key.
func (s *Store) hash(ctx context.Context, key string) (map[string]string, error) {
	f, err := s.rdb.HGetAll(ctx, s.prefix+key).Result()
	return f, s.fail(ctx, err)
}

// hashes reads many hashes in one pipeline, in order, leaving out missing ones.
func (s *Store) hashes(ctx context.Context, keys []string) ([]map[string]string, error) {
	if len(keys) == 0 {
		return nil, ctx.Err()
	}
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HGetAll(ctx, s.prefix+k)
		}
		return nil
	})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := make([]map[string]string, 0, len(keys))
	for _, c := range cmds {
		if f := c.Val(); len(f) > 0 {
			out = append(out, f)
		}
	}
	return out, nil
}

// flats decodes a script's list of flat hashes.
func flats[T any](reply any, decode func(map[string]string) (T, error)) ([]T, error) {
	items, ok := reply.([]any)
	if !ok {
		return nil, broken(errors.New("redisstore: unexpected script reply"))
	}
	out := make([]T, 0, len(items))
	for _, it := range items {
		f, err := pairs(it)
		if err != nil {
			return nil, broken(err)
		}
		v, err := decode(f)
		if err != nil {
			return nil, broken(err)
		}
		out = append(out, v)
	}
	return out, nil
}
