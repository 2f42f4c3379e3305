-- Schema version 3: outbox messages stored in one B-tree keyed by their ID
-- (WITHOUT ROWID) instead of a rowid table beside a unique index on the ID.
-- Every access is by ID or through the two partial indexes, and a bulk
-- invitation stores one message per row: one B-tree fewer to write each.
CREATE TABLE messages_by_id (
	id          TEXT    NOT NULL PRIMARY KEY,
	kind        TEXT    NOT NULL,
	to_addr     TEXT    NOT NULL,
	user_id     TEXT    NOT NULL,
	account_id  TEXT    NOT NULL,
	payload     BLOB    NOT NULL,
	state       TEXT    NOT NULL,
	created_at  INTEGER NOT NULL,
	due_at      INTEGER NOT NULL,
	attempts    INTEGER NOT NULL,
	last_error  BLOB    NOT NULL,
	lease_owner TEXT    NOT NULL,
	lease_until INTEGER NOT NULL,
	dead_at     INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO messages_by_id (id, kind, to_addr, user_id, account_id, payload, state, created_at, due_at,
	attempts, last_error, lease_owner, lease_until, dead_at)
	SELECT id, kind, to_addr, user_id, account_id, payload, state, created_at, due_at,
	attempts, last_error, lease_owner, lease_until, dead_at FROM messages;
DROP TABLE messages;
ALTER TABLE messages_by_id RENAME TO messages;
CREATE INDEX messages_due ON messages(due_at, id) WHERE state = 'pending';
CREATE INDEX messages_dead ON messages(id) WHERE state = 'dead';
