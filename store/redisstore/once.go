package redisstore

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// writeScript is a script that writes. It runs at most once per call: see
// runOnce.
type writeScript struct {
	src, hash string
}

func newWriteScript(src string) writeScript {
	return writeScript{src: src, hash: redis.NewScript(src).Hash()}
}

// noRetry keeps go-redis from sending a command again once it has been
// sent. A command that never reached the connection is still retried:
// that is its first run.
type noRetry struct{ *redis.Cmd }

func (noRetry) NoRetry() bool { return true }

// runOnce runs a writing script (EVALSHA, then EVAL when Redis does not
// have it cached) without go-redis's retries after the command was sent.
// go-redis retries a command whose reply was lost (a dropped connection, a
// read timeout); for a script that already ran, a second run would reserve
// two attempts for one login, report a create as a duplicate of itself or
// an update as a conflict with itself, which the Manager would then apply
// again. Without the retry the caller gets the network error, and the
// write happened whole or not at all.
func (s *Store) runOnce(ctx context.Context, sc writeScript, args ...any) *redis.Cmd {
	cmd := s.eval(ctx, "evalsha", sc.hash, args)
	if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		cmd = s.eval(ctx, "eval", sc.src, args)
	}
	return cmd
}

func (s *Store) eval(ctx context.Context, verb, body string, args []any) *redis.Cmd {
	cmd := redis.NewCmd(ctx, append([]any{verb, body, 0}, args...)...) // 0 KEYS: every key is built from the prefix
	_ = s.rdb.Process(ctx, noRetry{cmd})
	return cmd
}
