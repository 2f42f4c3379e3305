-- Schema version 1: accounts, users, the subtree index, audit events and
-- the trigram full-text index for search.

-- Accounts. seq is a compact key for user_tree; ancestor_seqs is the JSON
-- array of the seqs of the account's ancestors, top-level first, and
-- ancestors the same list as IDs, as the Manager gave them.
CREATE TABLE accounts (
	seq           INTEGER PRIMARY KEY,
	id            TEXT    NOT NULL UNIQUE,
	parent_id     TEXT    REFERENCES accounts(id),
	ancestors     TEXT    NOT NULL DEFAULT '[]',
	ancestor_seqs TEXT    NOT NULL DEFAULT '[]',
	name          TEXT    NOT NULL,
	created_at    INTEGER NOT NULL
);

-- Users. Times are Unix nanoseconds, 0 for the zero time. first_lc and
-- last_lc are the names lower-cased by Go's strings.ToLower (SQLite's
-- lower() folds ASCII only), for search. invite_token_hash is NULL when no
-- invitation is pending, so that its index holds pending invitations only.
CREATE TABLE users (
	seq               INTEGER PRIMARY KEY,
	id                TEXT    NOT NULL UNIQUE,
	account_id        TEXT    NOT NULL REFERENCES accounts(id),
	email             TEXT    NOT NULL,
	first_name        TEXT    NOT NULL,
	last_name         TEXT    NOT NULL,
	first_lc          TEXT    NOT NULL,
	last_lc           TEXT    NOT NULL,
	role              TEXT    NOT NULL,
	status            TEXT    NOT NULL,
	grants            TEXT    NOT NULL DEFAULT '',
	password_hash     TEXT    NOT NULL DEFAULT '',
	failed_attempts   INTEGER NOT NULL DEFAULT 0,
	invite_token_hash TEXT,
	invited_at        INTEGER NOT NULL DEFAULT 0,
	invite_expires_at INTEGER NOT NULL DEFAULT 0,
	created_at        INTEGER NOT NULL,
	updated_at        INTEGER NOT NULL,
	activated_at      INTEGER NOT NULL DEFAULT 0,
	last_login_at     INTEGER NOT NULL DEFAULT 0,
	last_active_at    INTEGER NOT NULL DEFAULT 0,
	version           INTEGER NOT NULL
);

-- One email per non-removed user; removal frees it.
CREATE UNIQUE INDEX users_email_live ON users(email) WHERE status <> 'removed';
-- UserByInviteToken.
CREATE INDEX users_invite_token ON users(invite_token_hash) WHERE invite_token_hash IS NOT NULL;
-- The inactivity sweep walks active users by (last activity, id).
CREATE INDEX users_stale ON users(last_active_at, id) WHERE status = 'active';
-- The last-admin check.
CREATE INDEX users_active_admins ON users(account_id) WHERE role = 'admin' AND status = 'active';

-- user_tree lists each user under its account and every ancestor account,
-- so that a subtree's users are one index range in ID order: keyset
-- pagination of any subtree without sorting or skipping.
CREATE TABLE user_tree (
	account_seq INTEGER NOT NULL,
	user_id     TEXT    NOT NULL,
	PRIMARY KEY (account_seq, user_id)
) WITHOUT ROWID;

-- Audit events, newest first per user through (user_id, id).
CREATE TABLE audit_events (
	seq        INTEGER PRIMARY KEY,
	id         TEXT    NOT NULL UNIQUE,
	user_id    TEXT    NOT NULL REFERENCES users(id),
	account_id TEXT    NOT NULL,
	at         INTEGER NOT NULL,
	actor_id   TEXT    NOT NULL,
	action     TEXT    NOT NULL,
	changes    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_user ON audit_events(user_id, id);

-- Search: a trigram index over the lower-cased names and the email, kept
-- in step with users by triggers. It finds candidates for terms of three
-- or more characters; the exact substring test runs on the rows it finds.
CREATE VIRTUAL TABLE users_fts USING fts5(
	first_lc, last_lc, email,
	content = 'users', content_rowid = 'seq',
	tokenize = 'trigram'
);
CREATE TRIGGER users_fts_insert AFTER INSERT ON users BEGIN
	INSERT INTO users_fts(rowid, first_lc, last_lc, email)
	VALUES (new.seq, new.first_lc, new.last_lc, new.email);
END;
CREATE TRIGGER users_fts_update AFTER UPDATE OF first_lc, last_lc, email ON users
WHEN old.first_lc IS NOT new.first_lc OR old.last_lc IS NOT new.last_lc OR old.email IS NOT new.email
BEGIN
	INSERT INTO users_fts(users_fts, rowid, first_lc, last_lc, email)
	VALUES ('delete', old.seq, old.first_lc, old.last_lc, old.email);
	INSERT INTO users_fts(rowid, first_lc, last_lc, email)
	VALUES (new.seq, new.first_lc, new.last_lc, new.email);
END;
CREATE TRIGGER users_fts_delete AFTER DELETE ON users BEGIN
	INSERT INTO users_fts(users_fts, rowid, first_lc, last_lc, email)
	VALUES ('delete', old.seq, old.first_lc, old.last_lc, old.email);
END;
