package bulk_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/bulk"
	"github.com/usermgmt/usermgmt/store/memstore"
)

func ExampleImport() {
	ctx := context.Background()
	m, _ := usermgmt.New(memstore.New())
	acct, _, _ := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Acme",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: "correct horse battery staple 7"}})

	const file = "Email,First Name,Last Name,Role,Active\n" +
		"grace@acme.example,Grace,Hopper,,\n" +
		"alan@acme.example,Alan,Turing,general,no\n" +
		"GRACE@acme.example,Grace,Again,,\n" +
		"ada@acme.example,Ada,Admin,,\n" +
		"eve@acme,Eve,Bad,,\n" +
		"bob@acme.example,Bob,Wiz,wizard,\n"
	for _, dry := range []bool{true, false} {
		rd, err := bulk.NewReader(ctx, strings.NewReader(file), bulk.ReadOptions{Name: "users.csv"})
		if err != nil {
			fmt.Println(err) // a *bulk.FileError
			return
		}
		rep, err := bulk.Import(ctx, m, usermgmt.System, rd, bulk.ImportOptions{AccountID: acct.ID, DryRun: dry})
		_ = rd.Close()
		var stop *bulk.StopError
		if errors.As(err, &stop) {
			fmt.Println("stopped at line", stop.Line, "- run it again to finish")
		} else if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("dry run:", rep.DryRun)
		for _, r := range rep.Rows {
			fmt.Printf("  line %d %-19s %s", r.Line, r.Email, r.Outcome)
			if r.Code != "" {
				fmt.Printf(" (%s: %s)", r.Field, r.Code)
			}
			fmt.Println()
		}
	}
	// Output:
	// dry run: true
	//   line 2 grace@acme.example  invited
	//   line 3 alan@acme.example   created_disabled
	//   line 4 grace@acme.example  skipped_duplicate
	//   line 5 ada@acme.example    skipped_exists
	//   line 6 eve@acme            rejected_invalid (email: invalid_email)
	//   line 7 bob@acme.example    rejected (role: unknown_role)
	// dry run: false
	//   line 2 grace@acme.example  invited
	//   line 3 alan@acme.example   created_disabled
	//   line 4 grace@acme.example  skipped_duplicate
	//   line 5 ada@acme.example    skipped_exists
	//   line 6 eve@acme            rejected_invalid (email: invalid_email)
	//   line 7 bob@acme.example    rejected (role: unknown_role)
}

func ExampleExport() {
	ctx := context.Background()
	clock := usermgmt.NewFakeClock(time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC))
	m, _ := usermgmt.New(memstore.New(), usermgmt.WithClock(clock))
	acct, _, _ := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Acme",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: "correct horse battery staple 7"}})
	_, _ = m.CreateUser(ctx, usermgmt.System, usermgmt.NewUser{AccountID: acct.ID, Email: "grace@acme.example",
		FirstName: "Grace", LastName: "=Hopper", Disabled: true})

	// Disabled users of Acme's subtree, as CSV; XLSX alike with bulk.FormatXLSX.
	n, err := bulk.Export(ctx, m, usermgmt.System, usermgmt.UserQuery{AccountID: acct.ID,
		Statuses: []usermgmt.Status{usermgmt.StatusDisabled}}, os.Stdout, bulk.FormatCSV)
	fmt.Println(n, err)
	// Output:
	// Email,First Name,Last Name,Role,Account,Department,Groups,Active,Status,Created,Last Login
	// grace@acme.example,Grace,'=Hopper,general,Acme,,,no,disabled,2026-05-01T09:30:00Z,
	// 1 <nil>
}
