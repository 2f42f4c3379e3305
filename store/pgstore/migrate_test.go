package pgstore_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
	"github.com/usermgmt/usermgmt/store/pgstore"
)

// superuser runs statements as the test server's superuser, or skips the
// test when the server given by USERMGMT_TEST_POSTGRES_URL does not allow
// them.
func superuser(t *testing.T, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			if server == nil {
				t.Skipf("the test server refuses %q: %v", s, err)
			}
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// TestSchemaVersionIsTheLastMigration checks that a new schema is at the
// version of the last embedded migration, and that opening it again
// changes nothing.
func TestSchemaVersionIsTheLastMigration(t *testing.T) {
	s := newStore(t)
	files, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.SchemaVersion(context.Background())
	if err != nil || v != len(files) || v < 1 {
		t.Fatalf("schema version %d (%v), want %d", v, err, len(files))
	}
	again := openSchema(t, s.Schema())
	if v2, err := again.SchemaVersion(context.Background()); err != nil || v2 != v {
		t.Fatalf("after reopening: version %d (%v), want %d", v2, err, v)
	}
}

// TestSchemaTooNewIsRefused records a migration this code does not know
// and checks that Open refuses the schema, saying so, and changes nothing.
func TestSchemaTooNewIsRefused(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.Pool().Exec(ctx, "INSERT INTO "+pgx.Identifier{s.Schema()}.Sanitize()+".schema_migrations VALUES (999, '0999_future.sql')"); err != nil {
		t.Fatal(err)
	}
	_, err := pgstore.Open(ctx, testURL, pgstore.WithSchema(s.Schema()))
	if !errors.Is(err, pgstore.ErrSchemaTooNew) || !strings.Contains(err.Error(), "999") {
		t.Fatalf("Open of a schema at version 999: %v, want ErrSchemaTooNew naming the version", err)
	}
	pool, err := pgxpool.New(ctx, testURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pgstore.New(ctx, pool, pgstore.WithSchema(s.Schema())); !errors.Is(err, pgstore.ErrSchemaTooNew) {
		t.Fatalf("New on a schema at version 999: %v, want ErrSchemaTooNew", err)
	}
}

// TestSchemaNames checks that only plain lower-case identifiers are taken.
func TestSchemaNames(t *testing.T) {
	for _, name := range []string{"", "Users", "a-b", "a b", "pg_users", "1abc", `x"y`, strings.Repeat("a", 64)} {
		if _, err := pgstore.Open(context.Background(), "postgres://127.0.0.1:1/x", pgstore.WithSchema(name)); err == nil || !strings.Contains(err.Error(), "schema") {
			t.Errorf("schema %q: %v, want a refusal naming the schema", name, err)
		}
	}
}

// TestNewOnOwnPool opens a store on the caller's pool: Close leaves the
// pool open.
func TestNewOnOwnPool(t *testing.T) {
	needServer(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	schema := randomSchema(t)
	t.Cleanup(func() { dropSchema(t, schema) })
	s, err := pgstore.New(ctx, pool, pgstore.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	m, err := usermgmt.New(s, usermgmt.WithHashParams(fixture.FastHash))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Own pool",
		Admin: usermgmt.NewUser{Email: "admin@example.com", FirstName: "A", LastName: "D", Password: fixture.Password}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("the caller's pool after Close: %v", err)
	}
}

// TestRoleWithoutDDL migrates a schema as its owner and then opens it as a
// role that may only read and write rows, as an application's runtime
// role on managed PostgreSQL would: a current schema needs no DDL.
func TestRoleWithoutDDL(t *testing.T) {
	s := newStore(t)
	sch := pgx.Identifier{s.Schema()}.Sanitize()
	role := "app_" + s.Schema()
	superuser(t, "CREATE ROLE "+role+" LOGIN",
		"GRANT USAGE ON SCHEMA "+sch+" TO "+role,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "+sch+" TO "+role)
	t.Cleanup(func() { superuser(t, "DROP OWNED BY "+role, "DROP ROLE "+role) })
	url := strings.Replace(testURL, "postgres://postgres@", "postgres://"+role+"@", 1)
	if url == testURL {
		t.Skip("cannot log in as another role on " + testURL)
	}
	app, err := pgstore.Open(context.Background(), url, pgstore.WithSchema(s.Schema()))
	if err != nil {
		t.Fatalf("Open as a role without DDL rights: %v", err)
	}
	defer app.Close()
	m, err := usermgmt.New(app, usermgmt.WithHashParams(fixture.FastHash))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, c, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Runtime role",
		Admin: usermgmt.NewUser{Email: "admin@example.com", FirstName: "A", LastName: "D", Password: fixture.Password}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Authenticate(ctx, c.User.Email, fixture.Password); err != nil {
		t.Fatal(err)
	}
}

// TestSearchWithoutTrigramIndex migrates a schema in a database without
// pg_trgm, as a role that may not create it: the migration succeeds
// without the search index (SearchIndexed reports it), and search still
// finds exactly what it should, by walking the subtree.
func TestSearchWithoutTrigramIndex(t *testing.T) {
	needServer(t)
	if server == nil {
		t.Skip("creates a database and a role: needs the throwaway cluster")
	}
	db, role := "trgmless", "plain_role"
	superuser(t, "DROP DATABASE IF EXISTS "+db, "DROP ROLE IF EXISTS "+role,
		"CREATE ROLE "+role+" LOGIN", "CREATE DATABASE "+db)
	t.Cleanup(func() { superuser(t, "DROP DATABASE IF EXISTS "+db, "DROP ROLE IF EXISTS "+role) })
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, server.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, "CREATE SCHEMA usermgmt AUTHORIZATION "+role)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	url := strings.Replace(server.URL(db), "postgres://postgres@", "postgres://"+role+"@", 1)
	s, err := pgstore.Open(ctx, url)
	if err != nil {
		t.Fatalf("Open where pg_trgm cannot be created: %v", err)
	}
	defer s.Close()
	if ok, err := s.SearchIndexed(ctx); err != nil || ok {
		t.Fatalf("SearchIndexed = %v (%v), want false", ok, err)
	}
	m, err := usermgmt.New(s, usermgmt.WithHashParams(fixture.FastHash))
	if err != nil {
		t.Fatal(err)
	}
	_, c, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Root",
		Admin: usermgmt.NewUser{Email: "admin@example.com", FirstName: "Ada", LastName: "Admin", Password: fixture.Password}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"Zoë Smith", "Joe Smithers", "Ann Blacksmith", "Bob Jones"} {
		first, last, _ := strings.Cut(n, " ")
		if _, err := m.CreateUser(ctx, c.User.ID, usermgmt.NewUser{Email: strings.ToLower(first) + "@example.com", FirstName: first, LastName: last, Invite: true}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := m.ListUsers(ctx, c.User.ID, usermgmt.UserQuery{Search: "SMITH"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range p.Items {
		got = append(got, u.FirstName)
	}
	if strings.Join(got, ",") != "Zoë,Joe,Ann" {
		t.Fatalf("search for SMITH found %v, want Zoë, Joe, Ann", got)
	}
	indexed := newStore(t)
	if ok, err := indexed.SearchIndexed(ctx); err != nil || !ok {
		t.Fatalf("SearchIndexed where pg_trgm exists = %v (%v), want true", ok, err)
	}
}
