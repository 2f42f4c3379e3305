-- Schema version 2, for the 1.0 Store contract: account departments,
-- locales and versions; groups and their members; the users' new fields
-- (department, groups, locale, password version, attempt leases, tokens,
-- pending email, reset requests, inviter, lock time, session version);
-- audit events of accounts and groups as well as users, with account
-- subtree history; and the outbox of messages. A version 1 file keeps
-- every account, user and event: a pending invitation becomes the user's
-- invitation token, a password set makes PasswordVersion 1, and a locked
-- user's LockedAt is taken from its last update (version 1 kept no lock
-- time). The sqlitestore package re-folds the email of every user after
-- this file runs (usermgmt.FoldSearch is not SQLite's lower()).

-- Accounts.
ALTER TABLE accounts ADD COLUMN departments TEXT    NOT NULL DEFAULT '[]';
ALTER TABLE accounts ADD COLUMN locale      TEXT    NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN updated_at  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN version     INTEGER NOT NULL DEFAULT 1;
UPDATE accounts SET updated_at = created_at;

-- account_tree files every account under itself and each account above
-- it: Accounts walks (root_seq, account_id) by keyset.
CREATE TABLE account_tree (
	root_seq   INTEGER NOT NULL,
	account_id TEXT    NOT NULL,
	PRIMARY KEY (root_seq, account_id)
) WITHOUT ROWID;
INSERT INTO account_tree (root_seq, account_id)
	SELECT seq, id FROM accounts
	UNION ALL
	SELECT j.value, a.id FROM accounts a, json_each(a.ancestor_seqs) j;

-- Users.
ALTER TABLE users ADD COLUMN department       TEXT    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN groups           TEXT    NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN locale           TEXT    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN password_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN attempt_leases   TEXT    NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN tokens           TEXT    NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN pending_email    TEXT    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN reset_requests   TEXT    NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN invited_by       TEXT    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN locked_at        INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN session_version  INTEGER NOT NULL DEFAULT 0;
-- usermgmt.FoldSearch of the email, for search (the names' are first_lc
-- and last_lc).
ALTER TABLE users ADD COLUMN email_fold       TEXT    NOT NULL DEFAULT '';

UPDATE users SET email_fold = email, password_version = (password_hash <> ''),
	locked_at = CASE WHEN status = 'locked' THEN updated_at ELSE 0 END;
UPDATE users SET tokens = json_array(json_object('p', 'invitation', 'h', invite_token_hash,
	'i', invited_at, 'e', invite_expires_at))
	WHERE invite_token_hash IS NOT NULL;

-- user_tokens mirrors the hashes of users.tokens for UserByToken; a hash
-- belongs to one user.
CREATE TABLE user_tokens (
	hash    TEXT NOT NULL PRIMARY KEY,
	user_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX user_tokens_user ON user_tokens(user_id);
INSERT INTO user_tokens (hash, user_id)
	SELECT invite_token_hash, id FROM users WHERE invite_token_hash IS NOT NULL;

DROP INDEX users_invite_token;
ALTER TABLE users DROP COLUMN invite_token_hash;
ALTER TABLE users DROP COLUMN invite_expires_at;

-- The lock sweep walks locked users by (lock time, id).
CREATE INDEX users_locked ON users(locked_at, id) WHERE status = 'locked';

-- Search indexes the folded email from now on.
DROP TRIGGER users_fts_insert;
DROP TRIGGER users_fts_update;
DROP TRIGGER users_fts_delete;
DROP TABLE users_fts;
CREATE VIRTUAL TABLE users_fts USING fts5(
	first_lc, last_lc, email_fold,
	content = 'users', content_rowid = 'seq',
	tokenize = 'trigram'
);
CREATE TRIGGER users_fts_insert AFTER INSERT ON users BEGIN
	INSERT INTO users_fts(rowid, first_lc, last_lc, email_fold)
	VALUES (new.seq, new.first_lc, new.last_lc, new.email_fold);
END;
CREATE TRIGGER users_fts_update AFTER UPDATE OF first_lc, last_lc, email_fold ON users
WHEN old.first_lc IS NOT new.first_lc OR old.last_lc IS NOT new.last_lc OR old.email_fold IS NOT new.email_fold
BEGIN
	INSERT INTO users_fts(users_fts, rowid, first_lc, last_lc, email_fold)
	VALUES ('delete', old.seq, old.first_lc, old.last_lc, old.email_fold);
	INSERT INTO users_fts(rowid, first_lc, last_lc, email_fold)
	VALUES (new.seq, new.first_lc, new.last_lc, new.email_fold);
END;
CREATE TRIGGER users_fts_delete AFTER DELETE ON users BEGIN
	INSERT INTO users_fts(users_fts, rowid, first_lc, last_lc, email_fold)
	VALUES ('delete', old.seq, old.first_lc, old.last_lc, old.email_fold);
END;
INSERT INTO users_fts(users_fts) VALUES ('rebuild');

-- Groups: named sets of users of one account, carrying grants. A name is
-- unique among the account's live groups, compared by name_key.
CREATE TABLE groups (
	seq         INTEGER PRIMARY KEY,
	id          TEXT    NOT NULL UNIQUE,
	account_id  TEXT    NOT NULL REFERENCES accounts(id),
	name        TEXT    NOT NULL,
	name_key    TEXT    NOT NULL,
	description TEXT    NOT NULL,
	grants      TEXT    NOT NULL,
	deleted     INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	version     INTEGER NOT NULL
);
CREATE UNIQUE INDEX groups_name ON groups(account_id, name_key) WHERE deleted = 0;
CREATE INDEX groups_account ON groups(account_id, id);

-- group_members mirrors users.groups for ListQuery.GroupID.
CREATE TABLE group_members (
	group_id TEXT NOT NULL,
	user_id  TEXT NOT NULL,
	PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX group_members_user ON group_members(user_id);

-- Audit events of users, groups and accounts: audit_events required a
-- user; events does not, and records the actor's email and the request's
-- metadata.
CREATE TABLE events (
	seq         INTEGER PRIMARY KEY,
	id          TEXT    NOT NULL UNIQUE,
	at          INTEGER NOT NULL,
	actor_id    TEXT    NOT NULL,
	actor_email TEXT    NOT NULL DEFAULT '',
	action      TEXT    NOT NULL,
	user_id     TEXT    NOT NULL DEFAULT '',
	group_id    TEXT    NOT NULL DEFAULT '',
	account_id  TEXT    NOT NULL,
	changes     TEXT    NOT NULL DEFAULT '',
	ip          TEXT    NOT NULL DEFAULT '',
	user_agent  TEXT    NOT NULL DEFAULT '',
	reason      TEXT    NOT NULL DEFAULT ''
);
INSERT INTO events (id, at, actor_id, action, user_id, account_id, changes)
	SELECT id, at, actor_id, action, user_id, account_id, changes FROM audit_events ORDER BY seq;
DROP TABLE audit_events;
CREATE INDEX events_user ON events(user_id, id) WHERE user_id <> '';

-- account_events files every event under its account and each account
-- above it: account history walks (root_seq, event_id) downwards.
CREATE TABLE account_events (
	root_seq INTEGER NOT NULL,
	event_id TEXT    NOT NULL,
	PRIMARY KEY (root_seq, event_id)
) WITHOUT ROWID;
INSERT INTO account_events (root_seq, event_id)
	SELECT a.seq, e.id FROM events e JOIN accounts a ON a.id = e.account_id
	UNION ALL
	SELECT j.value, e.id FROM events e JOIN accounts a ON a.id = e.account_id, json_each(a.ancestor_seqs) j;

-- The outbox. A delivered message is deleted; last_error is a BLOB, as a
-- mail server's reply may hold a NUL.
CREATE TABLE messages (
	seq         INTEGER PRIMARY KEY,
	id          TEXT    NOT NULL UNIQUE,
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
);
CREATE INDEX messages_due ON messages(due_at, id) WHERE state = 'pending';
CREATE INDEX messages_dead ON messages(id) WHERE state = 'dead';
