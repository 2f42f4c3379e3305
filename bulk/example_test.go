package bulk_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt/bulk"
)

func ExampleNewReader() {
	// A semicolon-separated export from a spreadsheet program, with a
	// column the reader does not know and a few problems.
	const file = "E-mail;Given name;Surname;Groups;Active;Phone\n" +
		"ada@example.com;Ada;Lovelace;Ops, Sales;yes;555-0100\n" +
		"grace@example.com;Grace;Hopper;;maybe;\n" +
		"\n" +
		";Alan;Turing;;no;\n"

	ctx := context.Background()
	rd, err := bulk.NewReader(ctx, strings.NewReader(file), bulk.ReadOptions{Name: "users.csv"})
	if err != nil {
		fmt.Println(err) // a *bulk.FileError: no email column, not UTF-8, too large...
		return
	}
	defer rd.Close()
	for _, c := range rd.Unknown() {
		fmt.Printf("ignoring column %d %q\n", c.Index, c.Header)
	}
	for row, err := range rd.All(ctx) {
		if err != nil {
			fmt.Println(err)
			return
		}
		if !row.OK() {
			for _, e := range row.Errors {
				fmt.Println(e)
			}
			continue
		}
		fmt.Printf("line %d: %s %s <%s> groups %q active %v\n",
			row.Line, row.FirstName, row.LastName, row.Email, row.Groups, *row.Active)
	}
	fmt.Printf("%d rows\n", rd.Progress().Rows)
	// Output:
	// ignoring column 6 "Phone"
	// line 2: Ada Lovelace <ada@example.com> groups ["Ops" "Sales"] active true
	// line 3, column 5 "Active": bulk: the cell is not yes or no
	// line 5, column 1 "E-mail": bulk: the email cell is empty
	// 3 rows
}

func ExampleNewWriter() {
	w, err := bulk.NewWriter(os.Stdout, bulk.FormatCSV, bulk.WriteOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	created := time.Date(2024, 5, 1, 9, 30, 0, 0, time.UTC)
	for _, r := range []bulk.Record{
		{Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace", Role: "admin",
			Account: "Acme", Groups: []string{"Ops", "Sales"}, Active: true, Status: "Active", Created: created},
		// A name a spreadsheet would take for a formula is neutralised.
		{Email: "anne@example.com", FirstName: "-Anne", LastName: "=1+1", Role: "user",
			Account: "Acme", Status: "Invited", Created: created},
	} {
		if err := w.Write(r); err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := w.Close(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// Email,First Name,Last Name,Role,Account,Department,Groups,Active,Status,Created,Last Login
	// ada@example.com,Ada,Lovelace,admin,Acme,,Ops; Sales,yes,Active,2024-05-01T09:30:00Z,
	// anne@example.com,'-Anne,'=1+1,user,Acme,,,no,Invited,2024-05-01T09:30:00Z,
}
