// Command usermgmt administers the users of a usermgmt store from a shell:
// accounts, listings, bulk import and export of CSV and Excel files,
// invitations, status changes, the inactivity sweep and history.
//
// Usage:
//
//	usermgmt [-db users.db | -redis URL | -postgres DSN] [-as EMAIL] COMMAND [ARGS] [FLAGS]
//
// Commands:
//
//	account create NAME --admin EMAIL --first F --last L [--parent ID] [--password-stdin]
//	users list [--account ID] [--search S] [--status s,...] [--role r,...] [--department D] [--group ID] [--removed] [--limit N] [--json]
//	import FILE [--account ID] [--role R] [--disabled] [--sheet NAME] [--dry-run] [--json] [--strict]
//	export [FILE|-] [--account ID] [--format csv|xlsx] [filters of users list]
//	invite EMAIL... [--account ID] [--role R] [--json]
//	resend EMAIL...                 (a new invitation, the old link void)
//	unlock EMAIL [--password]       (--password reads the new password from standard input)
//	ban | unban | disable | enable | reactivate | remove EMAIL...
//	sweep [--json]
//	history EMAIL [--limit N] [--json]
//
// The store is the SQLite file -db (default users.db, created on first
// use), or Redis at -redis (with -redis-prefix, default "usermgmt:"), or
// PostgreSQL at -postgres. Commands act as usermgmt.System unless -as
// names an acting admin by email; acting as System, commands that work on
// an account subtree need --account.
//
// Invitation emails are queued in the store's outbox, for the
// application's delivery workers, when USERMGMT_OUTBOX_KEY holds the
// application's outbox key as ID:BASE64 (32 bytes); without it nothing is
// queued and invite prints the invitation tokens instead.
//
// Exit status: 0 on success; 1 when a command fails (a refused operation,
// a file that cannot be read, an import stopped part way); 2 on a usage
// error; 3 when import --strict meets a row that is rejected.
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/usermgmt/usermgmt"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
	exitRows   = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, term.IsTerminal(int(os.Stderr.Fd())))
	stop()
	os.Exit(code)
}

// app is one run of the command: its flags, streams and Manager.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	tty            bool // stderr is a terminal: show progress bars

	dbPath, redisURL, redisPrefix, pgDSN, as string

	m      *usermgmt.Manager
	actor  string // usermgmt.System or the -as user's ID
	outbox bool   // USERMGMT_OUTBOX_KEY is set: invitations are queued for mailing
}

// usageError is a mistake in the command line.
type usageError string

func (e usageError) Error() string { return string(e) }

// exitError ends the command with a status, its message already printed
// (or none).
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// globalFlags registers the flags every command takes.
func (a *app) globalFlags(fs *flag.FlagSet) {
	// The defaults are the values so far: a command's flag set keeps what
	// the flags before the command set.
	fs.StringVar(&a.dbPath, "db", a.dbPath, "the SQLite `file` to use (created on first use)")
	fs.StringVar(&a.redisURL, "redis", a.redisURL, "use the Redis store at `URL` (redis://host:port/db)")
	fs.StringVar(&a.redisPrefix, "redis-prefix", a.redisPrefix, "the Redis store's key `prefix`")
	fs.StringVar(&a.pgDSN, "postgres", a.pgDSN, "use the PostgreSQL store at `DSN`")
	fs.StringVar(&a.as, "as", a.as, "act as the admin with this `email` (default: System)")
}

const usage = `usage: usermgmt [-db users.db | -redis URL | -postgres DSN] [-as EMAIL] COMMAND [ARGS] [FLAGS]

commands:
  account create NAME --admin EMAIL --first F --last L [--parent ID] [--password-stdin]
  users list [--account ID] [--search S] [--status s,...] [--role r,...] [--department D] [--group ID] [--removed] [--limit N] [--json]
  import FILE [--account ID] [--role R] [--disabled] [--sheet NAME] [--dry-run] [--json] [--strict]
  export [FILE|-] [--account ID] [--format csv|xlsx] [filters of users list]
  invite EMAIL... [--account ID] [--role R] [--json]
  resend EMAIL...
  unlock EMAIL [--password]
  ban | unban | disable | enable | reactivate | remove EMAIL...
  sweep [--json]
  history EMAIL [--limit N] [--json]

Run "usermgmt COMMAND -h" for a command's flags.
`

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, tty bool) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, tty: tty, dbPath: "users.db", redisPrefix: "usermgmt:"}
	err := a.run(ctx, args)
	var ee exitError
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return int(ee)
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "usermgmt: %s\n\n%s", ue, usage)
		return exitUsage
	}
	fmt.Fprintf(stderr, "usermgmt: %s\n", strings.TrimPrefix(err.Error(), "usermgmt: "))
	return exitFailed
}

func (a *app) run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("usermgmt", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() { fmt.Fprint(a.stderr, usage) }
	a.globalFlags(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsageErr(err)
	}
	args = fs.Args()
	if len(args) == 0 {
		return usageError("no command given")
	}
	name, args := args[0], args[1:]
	if name == "account" || name == "users" {
		if len(args) == 0 {
			return usageError(name + ": which one? (" + map[string]string{"account": "create", "users": "list"}[name] + ")")
		}
		name, args = name+" "+args[0], args[1:]
	}
	c, ok := commands[name]
	if !ok {
		return usageError(fmt.Sprintf("unknown command %q", name))
	}
	return c(ctx, a, name, args)
}

// exitUsageErr turns a flag parsing error into a usage exit (the flag
// package has printed it already).
func exitUsageErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return exitError(exitUsage)
}

// command runs one command with its arguments (flags included).
type command func(ctx context.Context, a *app, name string, args []string) error

var commands map[string]command

func init() {
	commands = map[string]command{
		"account create": accountCreate,
		"users list":     usersList,
		"import":         importFile,
		"export":         exportUsers,
		"invite":         invite,
		"resend":         resend,
		"unlock":         unlock,
		"ban":            status,
		"unban":          status,
		"disable":        status,
		"enable":         status,
		"reactivate":     status,
		"remove":         status,
		"sweep":          sweep,
		"history":        history,
	}
}

// flags starts a command's flag set, with the global flags.
func (a *app) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("usermgmt "+name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	a.globalFlags(fs)
	return fs
}

// parse parses flags anywhere among the arguments and returns the others.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, exitUsageErr(err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

// open opens the store and the Manager and finds the actor. The returned
// function closes them.
func (a *app) open(ctx context.Context) (func(), error) {
	var opts []usermgmt.Option
	if v := os.Getenv("USERMGMT_OUTBOX_KEY"); v != "" {
		k, err := parseOutboxKey(v)
		if err != nil {
			return nil, err
		}
		opts = append(opts, usermgmt.WithOutboxKeys(k))
		a.outbox = true
	}
	s, closeStore, err := a.openStore(ctx)
	if err != nil {
		return nil, err
	}
	m, err := usermgmt.New(s, opts...)
	if err != nil {
		closeStore()
		return nil, err
	}
	a.m = m
	done := func() { _ = m.Close(); closeStore() }
	a.actor = usermgmt.System
	if a.as != "" {
		u, err := m.UserByEmail(ctx, usermgmt.System, a.as)
		if errors.Is(err, usermgmt.ErrNotFound) {
			done()
			return nil, fmt.Errorf("-as %s: no user has this address: %w", a.as, err)
		}
		if err != nil {
			done()
			return nil, fmt.Errorf("-as %s: %w", a.as, err)
		}
		a.actor = u.ID
	}
	return done, nil
}

// parseOutboxKey reads USERMGMT_OUTBOX_KEY: ID:BASE64, the key 32 bytes.
func parseOutboxKey(v string) (usermgmt.OutboxKey, error) {
	id, b64, ok := strings.Cut(v, ":")
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawURLEncoding.DecodeString(b64)
	}
	if !ok || id == "" || err != nil || len(key) != 32 {
		return usermgmt.OutboxKey{}, errors.New("USERMGMT_OUTBOX_KEY must be ID:BASE64 with a 32-byte key")
	}
	return usermgmt.OutboxKey{ID: id, Key: key}, nil
}

// noOutbox tells the operator that invitations are not mailed.
func (a *app) noOutbox() {
	if !a.outbox {
		fmt.Fprintln(a.stderr, "note: USERMGMT_OUTBOX_KEY is not set: no invitation email was queued")
	}
}

// user finds a user by email, as the actor.
func (a *app) user(ctx context.Context, email string) (usermgmt.User, error) {
	u, err := a.m.UserByEmail(ctx, a.actor, email)
	if err != nil {
		return u, fmt.Errorf("%s: %w", email, err)
	}
	return u, nil
}

// list splits a comma-separated flag value.
func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
