package sqlitestore_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/storebench"
	"github.com/usermgmt/usermgmt/store/sqlitestore"
)

// BenchmarkBulk creates 100,000 invited users with their audit events
// (USERMGMT_BENCH_BULK_USERS changes the number) in a fresh file, twice per
// iteration: the baseline is hand-written batched INSERTs of ready-made rows
// (users, the subtree index, events) through database/sql, 500 rows a
// transaction; the library is Manager.InviteUsers (validation, tokens,
// events, the store's batches). It reports base-ns/op, lib-ns/op and their
// ratio. Run it with -benchtime 1x: one bulk load of each is the measurement.
func BenchmarkBulk(b *testing.B) {
	n := storebench.Size("USERMGMT_BENCH_BULK_USERS", 100_000)
	emails := make([]string, n)
	for i := range emails {
		emails[i] = fmt.Sprintf("invitee%07d@bulk.example", i)
	}
	// fresh opens a new file with an account and its (invited) admin; the
	// invitations are sent as System, the application itself.
	fresh := func(b *testing.B) (*sqlitestore.Store, *usermgmt.Manager, usermgmt.Account, usermgmt.User) {
		s := open(b, filepath.Join(b.TempDir(), "bulk.db"))
		m, err := usermgmt.New(s)
		if err != nil {
			b.Fatal(err)
		}
		a, c, err := m.CreateAccount(context.Background(), usermgmt.System, usermgmt.NewAccount{Name: "Bulk",
			Admin: usermgmt.NewUser{Email: "admin@bulk.example", FirstName: "Bulk", LastName: "Admin"}})
		if err != nil {
			b.Fatal(err)
		}
		return s, m, a, c.User
	}
	b.Run("invite_users", func(b *testing.B) {
		var base, lib time.Duration
		for i := 0; i < b.N; i++ {
			s, m, acct, _ := fresh(b)
			rows := rawRows(b, acct.ID, emails)
			db, err := sql.Open("sqlite", sqlitestore.DSN(s.Path()))
			if err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			rawInsert(b, db, acct.ID, rows)
			base += time.Since(t0)
			db.Close()

			_, m, acct, _ = fresh(b)
			t0 = time.Now()
			res, err := m.InviteUsers(context.Background(), usermgmt.System, usermgmt.BulkInvite{AccountID: acct.ID, Emails: emails})
			lib += time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range res {
				if r.Outcome != usermgmt.Invited {
					b.Fatalf("%s: %s %v", r.Email, r.Outcome, r.Err)
				}
			}
		}
		b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "base-ns/op")
		b.ReportMetric(float64(lib.Nanoseconds())/float64(b.N), "lib-ns/op")
		b.ReportMetric(float64(lib)/float64(base), "ratio")
	})
}

type rawRow struct {
	id, email, token, eventID, changes string
}

// rawRows prepares the rows an invitation writes, as a hand-written
// loader would have them ready.
func rawRows(b *testing.B, account string, emails []string) []rawRow {
	rows := make([]rawRow, len(emails))
	now := time.Now()
	for i, e := range emails {
		id, _ := uuid.NewV7()
		ev, _ := uuid.NewV7()
		tok := make([]byte, 32)
		_, _ = rand.Read(tok)
		sum := sha256.Sum256(tok)
		ch, _ := json.Marshal([]map[string]string{{"f": "email", "n": e}, {"f": "status", "n": "invited"},
			{"f": "invitation_expires_at", "n": now.Add(168 * time.Hour).UTC().Format(time.RFC3339Nano)}})
		rows[i] = rawRow{id: id.String(), email: e, token: hex.EncodeToString(sum[:]), eventID: ev.String(), changes: string(ch)}
	}
	return rows
}

func rawInsert(b *testing.B, db *sql.DB, account string, rows []rawRow) {
	ctx := context.Background()
	var seq int64
	if err := db.QueryRowContext(ctx, "SELECT seq FROM accounts WHERE id = ?", account).Scan(&seq); err != nil {
		b.Fatal(err)
	}
	now := time.Now().UnixNano()
	expires := now + int64(168*time.Hour)
	for start := 0; start < len(rows); start += 500 {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		user, err := tx.PrepareContext(ctx, `INSERT INTO users (id, account_id, email, first_name, last_name, first_lc, last_lc,
			role, status, grants, password_hash, failed_attempts, invite_token_hash, invited_at, invite_expires_at,
			created_at, updated_at, activated_at, last_login_at, last_active_at, version)
			VALUES (?, ?, ?, '', '', '', '', 'general', 'invited', '', '', 0, ?, ?, ?, ?, ?, 0, 0, 0, 1)`)
		if err != nil {
			b.Fatal(err)
		}
		tree, err := tx.PrepareContext(ctx, "INSERT INTO user_tree (account_seq, user_id) VALUES (?, ?)")
		if err != nil {
			b.Fatal(err)
		}
		event, err := tx.PrepareContext(ctx, `INSERT INTO audit_events (id, user_id, account_id, at, actor_id, action, changes)
			VALUES (?, ?, ?, ?, ?, 'invite', ?)`)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rows[start:min(start+500, len(rows))] {
			if _, err := user.ExecContext(ctx, r.id, account, r.email, r.token, now, expires, now, now); err != nil {
				b.Fatal(err)
			}
			if _, err := tree.ExecContext(ctx, seq, r.id); err != nil {
				b.Fatal(err)
			}
			if _, err := event.ExecContext(ctx, r.eventID, r.id, account, now, "admin", r.changes); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil && !strings.Contains(err.Error(), "no transaction") {
			b.Fatal(err)
		}
	}
}
