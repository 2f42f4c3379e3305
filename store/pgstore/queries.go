package pgstore

import (
	"fmt"
	"strings"
)

// queries holds the store's SQL with the schema filled in, built once per
// Store. pgx prepares and caches each statement per connection by its text.
type queries struct {
	schema string // quoted

	selectUser      string // SELECT userCols FROM users
	userByID        string
	userByEmail     string
	userByToken     string
	userAccess      string
	usersForUpdate  string
	insertUsers     string
	insertUserTree  string
	insertMembers   string
	insertTokens    string
	insertEvents    string
	insertMessages  string
	updateUser      string
	updateUsers     string
	moveTreeDelete  string
	moveTreeInsert  string
	membersDelete   string
	membersInsert   string
	tokensDelete    string
	tokensDistinct  string
	tokensInsert    string
	lockAccount     string
	accountsExist   string
	accountPaths    string
	lastAdminCheck  string
	reserve         string
	recordActivity  string
	userExists      string
	staleActive     string
	staleLocked     string
	insertAccount   string
	insertAcctTree  string
	account         string
	accounts        string
	updateAccount   string
	accountVersion  string
	insertGroup     string
	groupIDFree     string
	lockGroup       string
	groupEvent      string
	updateGroup     string
	groupVersion    string
	groupsByID      string
	claimMessages   string
	sentMessage     string
	retryMessage    string
	deadMessage     string
	messageExists   string
	message         string
	deadMessages    string
	pendingMessages string
	requeueMessage  string
}

// cols joins column names, each prefixed with prefix.
func cols(names []string, prefix string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(prefix + n)
	}
	return b.String()
}

// unnest returns "unnest($first::type[], …)" over the column types.
func unnest(types []string, first int) string {
	var b strings.Builder
	b.WriteString("unnest(")
	for i, t := range types {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d::%s[]", first+i, t)
	}
	b.WriteString(")")
	return b.String()
}

// params returns "$first::type, …" over the column types.
func params(types []string, first int) string {
	var b strings.Builder
	for i, t := range types {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d::%s", first+i, t)
	}
	return b.String()
}

// eventCTE returns the CTEs that insert one event, given as parameters
// from $first on, for each row of from (so none when from is empty), and
// file it under its account and every account above it.
func eventCTE(s, from string, first int) string {
	return fmt.Sprintf(`ev AS (INSERT INTO %[1]s.events (%[2]s) SELECT %[3]s FROM %[4]s RETURNING id, account_id),
	ev_tree AS (INSERT INTO %[1]s.account_events (root_id, event_id)
		SELECT r, ev.id FROM ev JOIN %[1]s.accounts a ON a.id = ev.account_id CROSS JOIN LATERAL unnest(a.ancestors || a.id) AS r)`,
		s, cols(eventCols, ""), params(eventColTypes, first), from)
}

// newQueries builds the statements for the schema s (quoted).
func newQueries(s string) queries {
	q := queries{schema: s}
	q.selectUser = "SELECT " + cols(userCols, "u.") + " FROM " + s + ".users u"
	q.userByID = q.selectUser + " WHERE u.id = $1"
	q.userByEmail = q.selectUser + " WHERE u.email = $1 AND u.status <> 'removed'"
	q.userByToken = "SELECT " + cols(userCols, "u.") + " FROM " + s + ".user_tokens t JOIN " + s + ".users u ON u.id = t.user_id WHERE t.hash = $1"
	q.userAccess = "SELECT " + cols(userCols, "u.") + `,
		(SELECT coalesce(jsonb_agg(jsonb_build_array(g.id, g.version) ORDER BY x.o), '[]')
		 FROM jsonb_array_elements_text(u.groups) WITH ORDINALITY AS x(gid, o)
		 JOIN ` + s + `.groups g ON g.id = x.gid AND NOT g.deleted)
		FROM ` + s + ".users u WHERE u.id = $1"
	q.usersForUpdate = q.selectUser + " WHERE u.id = ANY($1::text[]) ORDER BY u.id FOR UPDATE"
	q.insertUsers = "INSERT INTO " + s + ".users (" + cols(userWriteCols, "") + ") SELECT * FROM " + unnest(userColTypes, 1)
	q.insertUserTree = "INSERT INTO " + s + `.user_tree (root_id, user_id)
		SELECT r, u.id FROM unnest($1::text[], $2::text[]) AS u(id, acct)
		JOIN ` + s + ".accounts a ON a.id = u.acct CROSS JOIN LATERAL unnest(a.ancestors || a.id) AS r"
	q.insertMembers = "INSERT INTO " + s + ".group_members (group_id, user_id) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING"
	q.insertTokens = "INSERT INTO " + s + ".user_tokens (hash, user_id) SELECT * FROM unnest($1::text[], $2::text[])"
	q.insertEvents = "WITH " + strings.Replace(eventCTE(s, "src", 1), "SELECT "+params(eventColTypes, 1)+" FROM src",
		"SELECT * FROM "+unnest(eventColTypes, 1), 1) + " SELECT count(*) FROM ev"
	q.insertMessages = "INSERT INTO " + s + ".messages (" + cols(messageCols, "") + ") SELECT * FROM " + unnest(messageColTypes, 1)

	var set []string
	version := 0
	for i, c := range userWriteCols {
		switch c {
		case "id":
		case "version":
			version = i + 1
			set = append(set, "version = version + 1")
		default:
			set = append(set, fmt.Sprintf("%s = $%d::%s", c, i+1, userColTypes[i]))
		}
	}
	q.updateUser = fmt.Sprintf("UPDATE %s.users SET %s WHERE id = $1 AND version = $%d", s, strings.Join(set, ", "), version)
	// Many plain updates at once, their versions checked under lock.
	var setMany []string
	for _, c := range userWriteCols {
		switch c {
		case "id":
		case "version":
			setMany = append(setMany, "version = u.version + 1")
		default:
			setMany = append(setMany, c+" = v."+c)
		}
	}
	q.updateUsers = fmt.Sprintf("UPDATE %s.users u SET %s FROM %s AS v(%s) WHERE u.id = v.id AND u.version = v.version",
		s, strings.Join(setMany, ", "), unnest(userColTypes, 1), cols(userWriteCols, ""))
	q.moveTreeDelete = "DELETE FROM " + s + ".user_tree WHERE user_id = $1"
	q.moveTreeInsert = "INSERT INTO " + s + ".user_tree (root_id, user_id) SELECT r, $1 FROM " + s +
		".accounts a CROSS JOIN LATERAL unnest(a.ancestors || a.id) AS r WHERE a.id = $2"
	q.membersDelete = "DELETE FROM " + s + ".group_members WHERE user_id = $1 AND NOT (group_id = ANY($2::text[]))"
	q.membersInsert = "INSERT INTO " + s + ".group_members (group_id, user_id) SELECT g, $1 FROM unnest($2::text[]) AS g ON CONFLICT DO NOTHING"
	// A hash names one token: the division fails when one repeats.
	q.tokensDistinct = "SELECT 1 / (cardinality($1::text[]) = (SELECT count(DISTINCT h) FROM unnest($1::text[]) AS h))::int"
	q.tokensDelete = "DELETE FROM " + s + ".user_tokens WHERE user_id = $1 AND NOT (hash = ANY($2::text[]))"
	q.tokensInsert = "INSERT INTO " + s + ".user_tokens (hash, user_id) SELECT h, $1 FROM unnest($2::text[]) AS h WHERE NOT EXISTS (SELECT FROM " +
		s + ".user_tokens t WHERE t.hash = h AND t.user_id = $1)"
	// The account row lock serialises the last-admin checks of one
	// account; NO KEY UPDATE leaves foreign-key checks (new users) free.
	q.lockAccount = "SELECT FROM " + s + ".accounts WHERE id = $1 FOR NO KEY UPDATE"
	q.accountsExist = "SELECT 1 / (count(*) = cardinality($1::text[]))::int FROM " + s + ".accounts WHERE id = ANY($1::text[])"
	q.accountPaths = "SELECT id, ancestors || id FROM " + s + ".accounts WHERE id = ANY($1::text[])"
	q.lastAdminCheck = "SELECT 1 / (count(*) + $2::bigint) FROM " + s + ".users WHERE account_id = $1 AND role = 'admin' AND status = 'active' AND id <> $3"

	// ReserveAttempt in one statement: lock the row, drop the leases that
	// lapsed, decide, and write only when something changed.
	q.reserve = `WITH cur AS (SELECT * FROM ` + s + `.users WHERE id = $1 FOR UPDATE),
	live AS (SELECT cur.id, (SELECT coalesce(jsonb_agg(l ORDER BY o), '[]') FROM jsonb_array_elements(cur.attempt_leases) WITH ORDINALITY AS x(l, o)
		WHERE (l->>'u')::bigint > $2) AS leases FROM cur),
	d AS (SELECT cur.*, live.leases AS live_leases,
		jsonb_array_length(live.leases) <> jsonb_array_length(cur.attempt_leases) AS dropped,
		CASE WHEN cur.status <> 'active' OR cur.failed_attempts >= $3 THEN 2
			WHEN cur.failed_attempts + jsonb_array_length(live.leases) >= $3 THEN 1
			ELSE 0 END AS res
		FROM cur JOIN live ON live.id = cur.id),
	upd AS (UPDATE ` + s + `.users u SET attempt_leases = CASE WHEN d.res = 0 THEN d.live_leases || $4::jsonb ELSE d.live_leases END,
		version = u.version + 1
		FROM d WHERE u.id = d.id AND (d.res = 0 OR d.dropped) RETURNING u.attempt_leases, u.version)
	SELECT ` + strings.NewReplacer("d.attempt_leases", "coalesce(upd.attempt_leases, d.live_leases)", "d.version", "coalesce(upd.version, d.version)").
		Replace(cols(userCols, "d.")) + `, d.res FROM d LEFT JOIN upd ON true`
	q.recordActivity = "UPDATE " + s + ".users SET last_active_at = $2, version = version + 1 WHERE id = $1 AND status = 'active' AND last_active_at < $3"
	q.userExists = "SELECT EXISTS (SELECT FROM " + s + ".users WHERE id = $1)"
	q.staleActive = q.selectUser + " WHERE u.status = 'active' AND u.last_active_at < $1 AND (u.last_active_at, u.id) > ($2, $3) ORDER BY u.last_active_at, u.id LIMIT $4"
	q.staleLocked = q.selectUser + " WHERE u.status = 'locked' AND u.locked_at < $1 AND (u.locked_at, u.id) > ($2, $3) ORDER BY u.locked_at, u.id LIMIT $4"

	q.insertAccount = "INSERT INTO " + s + ".accounts (" + cols(accountCols, "") + ") VALUES ($1, NULLIF($2, ''), $3, $4, $5, $6, $7, $8, $9)"
	q.insertAcctTree = "INSERT INTO " + s + ".account_tree (root_id, account_id) SELECT r, $1 FROM unnest($2::text[]) AS r"
	q.account = "SELECT " + cols(accountCols, "") + " FROM " + s + ".accounts WHERE id = $1"
	q.accounts = "SELECT " + cols(accountCols, "a.") + " FROM " + s + ".account_tree t JOIN " + s +
		".accounts a ON a.id = t.account_id WHERE t.root_id = $1 AND t.account_id > $2 ORDER BY t.account_id LIMIT $3"
	q.updateAccount = `WITH w AS (UPDATE ` + s + `.accounts SET name = $2, departments = $3, locale = $4, created_at = $5, updated_at = $6,
		version = version + 1 WHERE id = $1 AND version = $7 RETURNING 1), ` + eventCTE(s, "w", 8) + ` SELECT count(*) FROM w`
	q.accountVersion = "SELECT version FROM " + s + ".accounts WHERE id = $1"
	q.insertGroup = `INSERT INTO ` + s + `.groups (` + cols(groupCols, "") + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
	q.groupIDFree = "SELECT 1 / (NOT EXISTS (SELECT FROM " + s + ".groups WHERE id = $1))::int"
	q.lockGroup = "SELECT version FROM " + s + ".groups WHERE id = $1 FOR UPDATE"
	// The event of a group update, written only when the version matches
	// (the row is locked by then).
	q.groupEvent = "WITH w AS (SELECT FROM " + s + ".groups WHERE id = $13 AND version = $14), " + eventCTE(s, "w", 1) + " SELECT count(*) FROM ev"
	q.updateGroup = `UPDATE ` + s + `.groups SET name = $2, name_key = $3, description = $4, grants = $5, deleted = $6,
		created_at = $7, updated_at = $8, version = version + 1 WHERE id = $1 AND version = $9`
	q.groupVersion = "SELECT version FROM " + s + ".groups WHERE id = $1"
	q.groupsByID = "SELECT " + cols(groupCols, "") + " FROM " + s + ".groups WHERE id = ANY($1::text[])"

	q.claimMessages = `WITH c AS (SELECT id FROM ` + s + `.messages WHERE state = 'pending' AND due_at <= $1 AND lease_until <= $1
		ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
		UPDATE ` + s + `.messages m SET lease_owner = $3, lease_until = $4, attempts = m.attempts + 1 FROM c WHERE m.id = c.id
		RETURNING ` + cols(messageCols, "m.")
	lease := " WHERE id = $1 AND state = 'pending' AND lease_owner = $2 AND lease_until > $3"
	q.sentMessage = "DELETE FROM " + s + ".messages" + lease
	q.retryMessage = "UPDATE " + s + ".messages SET due_at = $4, last_error = $5, lease_owner = '', lease_until = $6" + lease
	q.deadMessage = "UPDATE " + s + ".messages SET state = 'dead', dead_at = $3, last_error = $4, lease_owner = '', lease_until = $5" + lease
	q.messageExists = "SELECT EXISTS (SELECT FROM " + s + ".messages WHERE id = $1)"
	q.message = "SELECT " + cols(messageCols, "") + " FROM " + s + ".messages WHERE id = $1"
	q.deadMessages = "SELECT " + cols(messageCols, "") + " FROM " + s + ".messages WHERE state = 'dead' AND id > $1 ORDER BY id LIMIT $2"
	q.pendingMessages = "SELECT " + cols(messageCols, "") + " FROM " + s + ".messages WHERE state = 'pending' AND id > $1 ORDER BY id LIMIT $2"
	q.requeueMessage = "UPDATE " + s + ".messages SET state = 'pending', due_at = $2, attempts = 0, dead_at = $3 WHERE id = $1 AND state = 'dead'"
	return q
}
