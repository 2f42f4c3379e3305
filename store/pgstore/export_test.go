package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/usermgmt/usermgmt"
)

// UserColumns is the column list a user is read from, for the benchmarks'
// hand-written baseline queries.
var UserColumns = cols(userCols, "")

// CopyUsers writes new users and their events with COPY, the fastest way
// PostgreSQL takes rows: users, user_tree, user_tokens, events and
// account_events, one COPY each, in one transaction. The benchmarks load
// their datasets with it, and it is the baseline the bulk invitation is
// measured against. The users' accounts must exist; it checks nothing else
// the Store's writes check, and writes no messages.
func CopyUsers(ctx context.Context, s *Store, cs []usermgmt.UserCreate) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var users, tree, tokens, events, acctEvents [][]any
		paths := map[string][]string{}
		path := func(acct string) ([]string, error) {
			if p, ok := paths[acct]; ok {
				return p, nil
			}
			var anc []string
			if err := tx.QueryRow(ctx, "SELECT ancestors FROM "+s.q.schema+".accounts WHERE id = $1", acct).Scan(&anc); err != nil {
				return nil, err
			}
			paths[acct] = append(anc, acct)
			return paths[acct], nil
		}
		for i := range cs {
			u := &cs[i].User
			users = append(users, userValues(u))
			p, err := path(u.AccountID)
			if err != nil {
				return err
			}
			for _, r := range p {
				tree = append(tree, []any{r, u.ID})
			}
			for _, t := range u.Tokens {
				tokens = append(tokens, []any{t.Hash, u.ID})
			}
			ev := &cs[i].Event
			events = append(events, eventValues(ev))
			if p, err = path(ev.AccountID); err != nil {
				return err
			}
			for _, r := range p {
				acctEvents = append(acctEvents, []any{r, ev.ID})
			}
		}
		for _, c := range []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"users", userWriteCols, users},
			{"user_tree", []string{"root_id", "user_id"}, tree},
			{"user_tokens", []string{"hash", "user_id"}, tokens},
			{"events", eventCols, events},
			{"account_events", []string{"root_id", "event_id"}, acctEvents},
		} {
			if len(c.rows) == 0 {
				continue
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{s.schema, c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListSQL returns ListUsers' query and arguments for q.
func ListSQL(s *Store, q usermgmt.ListQuery) (string, []any) { return s.listSQL(q, false) }
