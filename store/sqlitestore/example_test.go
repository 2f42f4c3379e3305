package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/sqlitestore"
)

// Open a database file (created when missing), put a Manager on it, and
// use it; another process opening the same file shares the users.
func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "usermgmt-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	store, err := sqlitestore.Open(ctx, filepath.Join(dir, "users.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	m, err := usermgmt.New(store)
	if err != nil {
		log.Fatal(err)
	}

	_, admin, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{
		Name:  "Acme Corp",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Lovelace", Password: "analytical engine notes"},
	})
	if err != nil {
		log.Fatal(err)
	}
	u, err := m.Authenticate(ctx, "ADA@acme.example", "analytical engine notes")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.ID == admin.User.ID, u.Role, u.Status)
	v, _ := store.SchemaVersion(ctx)
	fmt.Println("schema version", v)
	// Output:
	// true admin active
	// schema version 3
}

// New puts the store on a pool the application opened itself, for example
// to keep its own tables in the same file. DSN gives the settings the store
// needs; the application closes its pool.
func ExampleNew() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "usermgmt-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	db, err := sql.Open("sqlite", sqlitestore.DSN(filepath.Join(dir, "app.db")))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	store, err := sqlitestore.New(ctx, db)
	if err != nil {
		log.Fatal(err)
	}
	var tables int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE name IN ('users', 'accounts', 'events', 'groups', 'messages')").Scan(&tables); err != nil {
		log.Fatal(err)
	}
	fmt.Println(tables, "tables ready;", store.Path() != "")
	// Output: 5 tables ready; true
}
