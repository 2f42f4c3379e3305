// Package redisstore is a usermgmt.Store on Redis (go-redis v9), for
// applications that run several instances against one Redis server.
//
// Every write is one Lua script (lua/*.lua, embedded): Redis runs a script
// without interleaving other commands, so each write — a user with its
// audit event and its outgoing messages, a password-attempt reservation, a
// lock written with the failure that reaches the limit, a message claim —
// is atomic across every process sharing the server. A script checks
// everything that can refuse it, and decodes every stored value it needs,
// before its first write, so a refusal writes nothing; no write depends on
// a value read by an earlier round trip except through the version it
// checks. Writing scripts run at most once per call (see Persistence
// below for what a lost reply means).
//
// # Key layout
//
// Every key starts with the store's prefix (Options.Prefix, default
// "usermgmt:"). IDs are the Manager's UUIDs; account and group IDs must
// not contain a colon. Times are 20-digit zero-padded decimal Unix
// nanoseconds, all zeros for the zero time (so the instant
// 1970-01-01T00:00:00Z reads back as the zero time); padded, they sort as
// text, which is how the sorted sets below order by time at full
// precision. Every sorted set has score 0 and is ordered by member
// (ZRANGEBYLEX): an ID, or "<time>:<ID>".
//
//	u:<user>              hash    rec: the whole user record, a msgpack map of strings (reads decode
//	                              only this); copies of the fields the scripts filter and index on:
//	                              id, account, email, status, role, groups, tokens, active (last
//	                              activity), locked (lock time), version, dept, and search (the folded
//	                              names and email, one per line, that ListQuery.Search is matched
//	                              against). Lists (groups, tokens, grants, leases, resets) are JSON
//	email:<email>         string  ID of the non-removed user holding the (canonical) email
//	token:<hash>          string  ID of the user holding a pending token (any purpose) with the hash
//	a:<account>           hash    the account: id, parent, ancestors and departments (JSON lists),
//	                              name, locale, created, updated, version
//	a:<account>:accounts  zset    IDs of the account and of every account beneath it
//	a:<account>:users     zset    IDs of the users of the account and of every account beneath it
//	a:<account>:admins    set     IDs of the account's Active admins (the last-admin guard)
//	a:<account>:events    zset    IDs of the audit events whose account is this one or one beneath
//	                              it: the account subtree's trail, newest first by ZREVRANGEBYLEX
//	a:<account>:groups    zset    IDs of the account's groups, deleted ones included
//	a:<account>:groupnames hash  name key -> ID of each live (not deleted) group of the account
//	g:<group>             hash    the group: id, account, namekey, deleted ("1"/"0"), version,
//	                              name, desc, grants (JSON), created, updated
//	g:<group>:users       zset    IDs of the users whose groups include it
//	active                zset    "<last activity>:<user>" for every Active user (the inactivity sweep)
//	locked                zset    "<lock time>:<user>" for every Locked user (locks that lapse)
//	events                hash    audit event ID -> the event as JSON
//	e:<user>              zset    IDs of the user's audit events
//	m:<message>           hash    an outgoing message: id, state, due, until (lease), owner, kind, to,
//	                              user, account, payload (sealed, binary), created, attempts,
//	                              error, dead
//	outbox:due            zset    "<due>:<message>" for every pending message
//	outbox:pending        zset    IDs of pending messages
//	outbox:dead           zset    IDs of dead-lettered messages
//
// Index entries and keys come and go with what they index (an email key is
// deleted when its user is removed, a set when its last member leaves).
// Records stay: users (a removal keeps the record and its history),
// accounts, groups and events are never deleted; a message is deleted
// once delivered.
//
// # Costs
//
// A round trip is one command or one pipeline; n is the number of items
// the call returns or writes.
//
//   - User, Account, Message: one HGET or HGETALL. UserByEmail,
//     UserByToken and UserAccess: one script, one round trip (UserAccess
//     reads the user and its groups' versions together). Groups: one
//     pipeline.
//   - CreateAccount, CreateUsers, UpdateUser, UpdateAccount, CreateGroup,
//     UpdateGroup, ReserveAttempt, FinishAttempt, RecordActivity,
//     ClaimMessages, FinishMessage, RequeueMessage: one script each.
//   - UpdateUsers: one script for the whole batch (the sweep's page of
//     500 users is one round trip), applying the updates one after the
//     other, each checked whole before it is written. Inside Redis an
//     update reads the user's indexed fields and writes the user and its
//     history entry: three calls per user, plus one write per other key
//     (the event store, the activity index, the account's trail) for the
//     whole batch.
//   - ListUsers: a script examines up to 1,000 members of the subtree's
//     (or the group's) set after the cursor and returns the IDs that pass
//     the filters; one pipeline reads them; repeated until the page is
//     full. Its cost follows the members examined, never the pages before
//     the cursor.
//   - StaleUsers: one ZRANGEBYLEX of the activity or lock index from the
//     keyset, one pipeline reading the users on it; repeated only when a
//     user moved in between. Its cost follows the users returned.
//   - History: one script per page reads the event IDs of the user's or
//     the subtree's index before the cursor and their events; with
//     filters (actions, actor, time) it reads up to 500 a step until the
//     page is full.
//   - Accounts, ListGroups, Messages: one script per page.
//
// # Persistence and deployment
//
// The client must have ContextTimeoutEnabled set (see New), so that a
// stalled Redis cannot hold a call past its context's deadline.
//
// Run Redis with AOF persistence (appendonly yes, appendfsync everysec or
// always) and maxmemory-policy noeviction, or users and their history are
// lost; Redis logs a script's writes as one MULTI/EXEC block, so a restart
// never replays half of one. A write whose reply is lost (a dropped
// connection, a deadline) may still have happened, whole: re-read after a
// write error. Redis Cluster and redis.Ring are not supported: the keys
// one script touches (a user, its email key, its account's sets, the
// activity index, the event store) live in different hash slots. See
// README.md in this directory.
package redisstore
