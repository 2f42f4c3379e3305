package redisstore_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/storebench"
	"github.com/usermgmt/usermgmt/store/redisstore"
)

// Benchmarks run against the test server (a throwaway redis-server unless
// USERMGMT_TEST_REDIS_URL is set). Each dataset (200,000 users for lookups
// and pages, 1,000,000 for the sweep; USERMGMT_BENCH_REDIS_USERS and
// USERMGMT_BENCH_SWEEP_USERS) is loaded once per server, under a prefix of
// its own.

func BenchmarkAuthenticate(b *testing.B) { storebench.Authenticate(b, newStore(b)) }

var (
	dataOnce  sync.Once
	dataStore *redisstore.Store
	data      storebench.Dataset
)

// dataset is the 200,000 users (USERMGMT_BENCH_REDIS_USERS) that lookups
// and pages read, loaded once per server.
func dataset(b *testing.B) (*redisstore.Store, storebench.Dataset) {
	dataOnce.Do(func() {
		dataStore, data = load(b, storebench.Size("USERMGMT_BENCH_REDIS_USERS", 200_000))
	})
	if dataStore == nil {
		b.Fatal("the dataset failed to load")
	}
	return dataStore, data
}

// load writes a dataset of n users under a prefix of its own on the test
// server (or finds it there).
func load(b *testing.B, n int) (*redisstore.Store, storebench.Dataset) {
	if skipReason != "" {
		b.Skip(skipReason)
	}
	// A client of its own: the dataset outlives the benchmark that loads it.
	s, err := redisstore.New(redis.NewClient(serverOptions), redisstore.Options{Prefix: "usermgmt-bench:" + strconv.Itoa(n) + ":"})
	if err != nil {
		b.Fatal(err)
	}
	d := storebench.NewDataset(n)
	d.Load(b, s)
	return s, d
}

// BenchmarkLookup reads users by ID and by email beside a bare go-redis
// HGETALL of the same user's hash; raw_get_then_hgetall is what a
// hand-written email lookup costs without a script (two round trips).
func BenchmarkLookup(b *testing.B) {
	s, d := dataset(b)
	rdb, p := s.Client(), s.Prefix()
	hgetall := func(ctx context.Context, u usermgmt.UserRecord) error {
		return rdb.HGetAll(ctx, p+"u:"+u.ID).Err()
	}
	storebench.Lookup(b, s, d, hgetall, hgetall)
	b.Run("by_email/raw_get_then_hgetall", func(b *testing.B) {
		ctx := context.Background()
		i := 0
		for b.Loop() {
			u := d.Users[i%len(d.Users)]
			i += 7919
			id, err := rdb.Get(ctx, p+"email:"+u.Email).Result()
			if err != nil {
				b.Fatal(err)
			}
			if err := rdb.HGetAll(ctx, p+"u:"+id).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPages(b *testing.B) {
	s, d := dataset(b)
	storebench.Pages(b, s, d)
}

// BenchmarkSweep sweeps 1,000,000 users (USERMGMT_BENCH_SWEEP_USERS), the
// size the sweep is held to, in a dataset of their own. It reports
// ns/idle-user beside bareSweep's on the same users.
func BenchmarkSweep(b *testing.B) {
	s, d := load(b, storebench.Size("USERMGMT_BENCH_SWEEP_USERS", 1_000_000))
	// Loaded beforehand, as the store's scripts are by the writes that
	// make the users idle: the first timed batch does not compile it.
	if err := bareSweepScript.Load(context.Background(), s.Client()).Err(); err != nil {
		b.Fatal(err)
	}
	storebench.Sweep(b, s, d, bareSweep(s))
}

// bareSweep is the sweep a program written for this one job on the store's
// key layout would run: one Lua script per batch of 500, one round trip.
// The script reads the candidates by keyset from the activity index up to
// before (the index holds Active users only) and, for each, rewrites the
// fields of its record that change (status, updated, version, sessver: the
// msgpack map unpacked and packed again with Redis's cmsgpack, as the
// store's own scripts do) and the copies that change (status, version),
// takes it out of its account's admins if it is an admin, and files an
// audit event (action "inactive", actor "system", the status change) under
// the user; then, for the batch, one ZREM from the activity index, one
// HSET of the events and one ZADD of them per account of the chain the
// store files them under. Like the store's scripts it is atomic, and it
// writes the keys and encodings the store writes: the store reads the
// users back Inactive with their event (TestBareSweep). It skips what the
// library adds: the records sent to Go, decoded, compared and encoded
// whole again, the version check, the event's changes computed, the
// Manager's rules, the unchanged copies and search text rewritten, and
// two more round trips per batch (the page of the index and the pipeline
// reading the users). Reading the records into Go, patching them there
// and writing them in one MULTI/EXEC costs those round trips too, and the
// client's encoding of some 1,500 commands a batch.
func bareSweep(s *redisstore.Store) storebench.SweepBaseline {
	rdb, p := s.Client(), s.Prefix()
	return func(ctx context.Context, before, now time.Time) (int, error) {
		moved, from, end, at := 0, "-", "("+padded(before), padded(now)
		for {
			// An event ID for every user the batch may move.
			args := make([]any, 4, 4+bareBatch)
			args[0], args[1], args[2], args[3] = p, from, end, at
			for range bareBatch {
				id, err := uuid.NewV7()
				if err != nil {
					return moved, err
				}
				args = append(args, id.String())
			}
			res, err := bareSweepScript.Run(ctx, rdb, nil, args...).Slice()
			if err != nil {
				return moved, err
			}
			n, _ := res[0].(int64)
			moved += int(n)
			if n < bareBatch {
				return moved, nil
			}
			from = "(" + res[1].(string)
		}
	}
}

// bareBatch is bareSweep's batch, the sweep's page.
const bareBatch = 500

// bareSweepScript is bareSweep's batch. ARGV: prefix, the keyset start
// (ZRANGEBYLEX), its end, now, then an event ID per user it may move.
// Returns how many users it moved and the last index entry it read.
var bareSweepScript = redis.NewScript(`
local P, now = ARGV[1], ARGV[4]
local members = redis.call("ZRANGEBYLEX", P .. "active", ARGV[2], ARGV[3], "LIMIT", 0, #ARGV - 4)
if #members == 0 then return {0, ""} end
local events, filed, accounts = {}, {}, {}
for i, m in ipairs(members) do
  local id, ev = string.sub(m, 22), ARGV[4 + i]
  local key = P .. "u:" .. id
  local r = cmsgpack.unpack(redis.call("HGET", key, "rec"))
  r.status, r.updated = "inactive", now
  r.version = string.format("%d", tonumber(r.version) + 1)
  r.sessver = string.format("%d", tonumber(r.sessver) + 1)
  redis.call("HSET", key, "rec", cmsgpack.pack(r), "status", "inactive", "version", r.version)
  if r.role == "admin" then redis.call("SREM", P .. "a:" .. r.account .. ":admins", id) end
  events[#events + 1] = ev
  events[#events + 1] = '{"id":"' .. ev .. '","at":"' .. now .. '","actor":"system","action":"inactive","user":"' .. id ..
    '","account":"' .. r.account .. '","changes":[{"field":"status","old":"active","new":"inactive"}]}'
  redis.call("ZADD", P .. "e:" .. id, 0, ev)
  local f = filed[r.account]
  if not f then
    f = {}
    filed[r.account] = f
    accounts[#accounts + 1] = r.account
  end
  f[#f + 1] = 0
  f[#f + 1] = ev
end
redis.call("ZREM", P .. "active", unpack(members))
redis.call("HSET", P .. "events", unpack(events))
for _, a in ipairs(accounts) do
  local anc, chain = redis.call("HGET", P .. "a:" .. a, "ancestors"), {}
  if anc and anc ~= "" then chain = cjson.decode(anc) end
  chain[#chain + 1] = a
  for _, up in ipairs(chain) do redis.call("ZADD", P .. "a:" .. up .. ":events", unpack(filed[a])) end
end
return {#members, members[#members]}
`)

// TestBareSweep checks that bareSweep has the durable effect of
// Manager.Sweep: 600 idle users (the admin among them; two batches) read
// back as the sweep leaves them but for the versions, one up on each, with
// the same newest audit event but for its ID, and every index holds what
// the key layout says it should.
func TestBareSweep(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	d := storebench.NewDataset(1200)
	d.Load(t, s)
	m, clock := storebench.Manager(t, s)
	now := clock.Now()
	var ids []string
	for j := 0; j < len(d.Users); j += 2 {
		ids = append(ids, d.Users[j].ID)
	}
	type state struct {
		user  usermgmt.UserRecord
		event usermgmt.AuditEvent // the newest, without its ID
	}
	read := func() map[string]state {
		t.Helper()
		out := make(map[string]state, len(ids))
		for _, id := range ids {
			u, err := s.User(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := s.History(ctx, usermgmt.HistoryQuery{UserID: id, Limit: 1})
			if err != nil || len(evs) != 1 {
				t.Fatalf("history of %s: %v, %v", id, evs, err)
			}
			evs[0].ID = ""
			out[id] = state{u, evs[0]}
		}
		return out
	}
	// idle makes the users Active with their last activity four months ago.
	idle := func() map[string]state {
		t.Helper()
		since := now.AddDate(0, -4, 0)
		ups := make([]usermgmt.UserUpdate, len(ids))
		for i, id := range ids {
			u, err := s.User(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			u.Status, u.LastActiveAt, u.UpdatedAt = usermgmt.StatusActive, since, since
			ups[i] = usermgmt.UserUpdate{User: u, Event: usermgmt.AuditEvent{ID: uuid.Must(uuid.NewV7()).String(), At: since,
				ActorID: usermgmt.System, Action: usermgmt.ActionReactivate, UserID: id, AccountID: u.AccountID}}
		}
		errs, err := s.UpdateUsers(ctx, ups)
		if err == nil {
			err = errors.Join(errs...)
		}
		if err != nil {
			t.Fatal(err)
		}
		return read()
	}
	idle()
	if res, err := m.Sweep(ctx); err != nil || res.Inactive != len(ids) {
		t.Fatalf("Manager.Sweep: %+v, %v; want %d inactive", res, err, len(ids))
	}
	swept := read()
	before := idle()
	if n, err := bareSweep(s)(ctx, now.AddDate(0, -3, 0), now); err != nil || n != len(ids) {
		t.Fatalf("bareSweep moved %d users, %v; want %d", n, err, len(ids))
	}
	for id, got := range read() {
		want := swept[id]
		want.user.Version, want.user.SessionVersion = before[id].user.Version+1, before[id].user.SessionVersion+1
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("user %s after bareSweep:\n%+v\nwant, as after Manager.Sweep:\n%+v", id, got, want)
		}
	}
	checkLayout(t, s)
}

// BenchmarkConcurrentLogins runs logins of many users at once on several
// Managers sharing the store.
func BenchmarkConcurrentLogins(b *testing.B) { storebench.ConcurrentLogins(b, newStore(b)) }

// BenchmarkCanOn checks permissions: UserAccess (one round trip) and the
// group cache.
func BenchmarkCanOn(b *testing.B) { storebench.CanOn(b, newStore(b)) }
