-- The first schema of the PostgreSQL store. {schema} stands for the
-- store's schema, quoted; migrate substitutes it. Every ID and key column
-- is COLLATE "C", so that keyset pagination orders byte-wise, as the
-- Store contract says, whatever the database's collation. Times are int64
-- Unix nanoseconds (timestamptz keeps microseconds only); the zero
-- time.Time is -9223372036854775808, below every real time.

CREATE TABLE {schema}.accounts (
	id          text COLLATE "C" NOT NULL,
	parent_id   text COLLATE "C",
	ancestors   text[] COLLATE "C" NOT NULL,
	name        text NOT NULL,
	departments text[] NOT NULL,
	locale      text NOT NULL,
	created_at  bigint NOT NULL,
	updated_at  bigint NOT NULL,
	version     bigint NOT NULL,
	CONSTRAINT accounts_pkey PRIMARY KEY (id),
	CONSTRAINT accounts_parent_fk FOREIGN KEY (parent_id) REFERENCES {schema}.accounts (id)
);

-- account_tree files every account under itself and each of its
-- ancestors: Accounts walks (root_id, account_id) by keyset.
CREATE TABLE {schema}.account_tree (
	root_id    text COLLATE "C" NOT NULL,
	account_id text COLLATE "C" NOT NULL,
	CONSTRAINT account_tree_pkey PRIMARY KEY (root_id, account_id)
);

CREATE TABLE {schema}.users (
	id               text COLLATE "C" NOT NULL,
	account_id       text COLLATE "C" NOT NULL,
	email            text NOT NULL,
	first_name       text NOT NULL,
	last_name        text NOT NULL,
	role             text NOT NULL,
	department       text NOT NULL,
	groups           jsonb NOT NULL,
	locale           text NOT NULL,
	status           text NOT NULL,
	grants           jsonb NOT NULL,
	password_hash    text NOT NULL,
	password_version bigint NOT NULL,
	failed_attempts  integer NOT NULL,
	attempt_leases   jsonb NOT NULL,
	tokens           jsonb NOT NULL,
	pending_email    text NOT NULL,
	reset_requests   jsonb NOT NULL,
	invited_by       text NOT NULL,
	invited_at       bigint NOT NULL,
	created_at       bigint NOT NULL,
	updated_at       bigint NOT NULL,
	activated_at     bigint NOT NULL,
	last_login_at    bigint NOT NULL,
	last_active_at   bigint NOT NULL,
	locked_at        bigint NOT NULL,
	session_version  bigint NOT NULL,
	version          bigint NOT NULL,
	-- usermgmt.FoldSearch of the names and the email, for search.
	first_fold       text NOT NULL,
	last_fold        text NOT NULL,
	email_fold       text NOT NULL,
	CONSTRAINT users_account_fk FOREIGN KEY (account_id) REFERENCES {schema}.accounts (id)
);
-- The canonical email is unique among non-removed users. This index is
-- created before the primary key so that a row breaking both is reported
-- as a duplicate email, as the in-memory store does.
CREATE UNIQUE INDEX users_email_key ON {schema}.users (email) WHERE status <> 'removed';
ALTER TABLE {schema}.users ADD CONSTRAINT users_pkey PRIMARY KEY (id);
-- The sweep: Active users by last activity, Locked users by lock time.
CREATE INDEX users_active_idx ON {schema}.users (last_active_at, id) WHERE status = 'active';
CREATE INDEX users_locked_idx ON {schema}.users (locked_at, id) WHERE status = 'locked';
-- The last-admin check counts an account's active admins.
CREATE INDEX users_admins_idx ON {schema}.users (account_id) WHERE role = 'admin' AND status = 'active';

-- user_tree files every user under their account and each account above
-- it: ListUsers walks (root_id, user_id) by keyset.
CREATE TABLE {schema}.user_tree (
	root_id text COLLATE "C" NOT NULL,
	user_id text COLLATE "C" NOT NULL,
	CONSTRAINT user_tree_pkey PRIMARY KEY (root_id, user_id)
);
CREATE INDEX user_tree_user_idx ON {schema}.user_tree (user_id);

-- group_members mirrors users.groups for ListQuery.GroupID.
CREATE TABLE {schema}.group_members (
	group_id text COLLATE "C" NOT NULL,
	user_id  text COLLATE "C" NOT NULL,
	CONSTRAINT group_members_pkey PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user_idx ON {schema}.group_members (user_id);

-- user_tokens mirrors the hashes of users.tokens for UserByToken; a hash
-- belongs to one user.
CREATE TABLE {schema}.user_tokens (
	hash    text COLLATE "C" NOT NULL,
	user_id text COLLATE "C" NOT NULL,
	CONSTRAINT user_tokens_pkey PRIMARY KEY (hash)
);
CREATE INDEX user_tokens_user_idx ON {schema}.user_tokens (user_id);

CREATE TABLE {schema}.groups (
	id          text COLLATE "C" NOT NULL,
	account_id  text COLLATE "C" NOT NULL,
	name        text NOT NULL,
	name_key    text NOT NULL,
	description text NOT NULL,
	grants      jsonb NOT NULL,
	deleted     boolean NOT NULL,
	created_at  bigint NOT NULL,
	updated_at  bigint NOT NULL,
	version     bigint NOT NULL,
	CONSTRAINT groups_pkey PRIMARY KEY (id),
	CONSTRAINT groups_account_fk FOREIGN KEY (account_id) REFERENCES {schema}.accounts (id)
);
CREATE UNIQUE INDEX groups_name_key ON {schema}.groups (account_id, name_key) WHERE NOT deleted;
CREATE INDEX groups_account_idx ON {schema}.groups (account_id, id);

CREATE TABLE {schema}.events (
	id          text COLLATE "C" NOT NULL,
	at          bigint NOT NULL,
	actor_id    text NOT NULL,
	actor_email text NOT NULL,
	action      text NOT NULL,
	user_id     text COLLATE "C" NOT NULL,
	group_id    text COLLATE "C" NOT NULL,
	account_id  text COLLATE "C" NOT NULL,
	changes     jsonb NOT NULL,
	ip          text NOT NULL,
	user_agent  text NOT NULL,
	reason      text NOT NULL,
	CONSTRAINT events_pkey PRIMARY KEY (id)
);
CREATE INDEX events_user_idx ON {schema}.events (user_id, id);

-- account_events files every event under its account and each account
-- above it: account history walks (root_id, event_id) downwards.
CREATE TABLE {schema}.account_events (
	root_id  text COLLATE "C" NOT NULL,
	event_id text COLLATE "C" NOT NULL,
	CONSTRAINT account_events_pkey PRIMARY KEY (root_id, event_id)
);

CREATE TABLE {schema}.messages (
	id          text COLLATE "C" NOT NULL,
	kind        text NOT NULL,
	to_addr     text NOT NULL,
	user_id     text NOT NULL,
	account_id  text NOT NULL,
	payload     bytea NOT NULL,
	state       text NOT NULL,
	created_at  bigint NOT NULL,
	due_at      bigint NOT NULL,
	attempts    integer NOT NULL,
	-- bytea: a mail server's reply may hold a NUL, which text refuses.
	last_error  bytea NOT NULL,
	lease_owner text NOT NULL,
	lease_until bigint NOT NULL,
	dead_at     bigint NOT NULL,
	CONSTRAINT messages_pkey PRIMARY KEY (id)
);
CREATE INDEX messages_due_idx ON {schema}.messages (due_at, id) WHERE state = 'pending';
CREATE INDEX messages_dead_idx ON {schema}.messages (id) WHERE state = 'dead';

-- Search: a trigram GIN index over the folded names and email, when the
-- pg_trgm extension exists or this role may create it (it is a trusted
-- extension since PostgreSQL 13: CREATE on the database suffices). Without
-- it, search walks the account subtree (see the package documentation).
DO $$
DECLARE
	ext_schema text;
BEGIN
	IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_trgm') THEN
		BEGIN
			CREATE EXTENSION pg_trgm SCHEMA {schema};
		EXCEPTION WHEN others THEN
			RAISE NOTICE 'pgstore: pg_trgm is not available (%); search walks the account subtree', SQLERRM;
		END;
	END IF;
	SELECT n.nspname INTO ext_schema
		FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
		WHERE e.extname = 'pg_trgm';
	IF ext_schema IS NOT NULL THEN
		EXECUTE format('CREATE INDEX users_search_idx ON {schema}.users USING gin (first_fold %1$I.gin_trgm_ops, last_fold %1$I.gin_trgm_ops, email_fold %1$I.gin_trgm_ops)', ext_schema);
	END IF;
END
$$;
