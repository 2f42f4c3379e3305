// Server is usermgmt's admin HTTP API as a program: package httpapi mounted
// under /admin/api/, a login that keeps the signed-in user in a session
// cookie (github.com/alexedwards/scs/v2), the outbox delivery worker and the
// inactivity sweeper, over a SQLite file by default (or PostgreSQL, or
// Redis).
//
//	go run ./examples/server                  # http://127.0.0.1:8080, users in ./usermgmt.db
//	go run ./examples/server -addr 127.0.0.1:0 -db /tmp/users.db -smtp-host mail.example.com
//
// On the first start it creates the top-level account (-account) and
// invites its admin (-admin-email), printing the invitation link: open it
// (or POST the token to /admin/api/public/invitation/accept), then sign in
// with POST /login and use the admin API with the session cookie. Emails are
// logged, links included, unless an SMTP server is configured (flags
// -smtp-* or the USERMGMT_SMTP_* environment variables). SIGINT or
// SIGTERM stops it gracefully: the requests in flight finish, the workers
// stop, the store is closed, and it exits 0.
//
// Routes:
//
//	POST /login          {"email", "password"} → the user, and the session cookie
//	POST /logout         ends the session
//	GET  /me             the signed-in user
//	/admin/api/...       the admin API (package httpapi; GET /admin/api/openapi.json)
//	/admin/api/public/...  invitation acceptance, password reset (no session)
//	GET /invitation, /reset-password, /confirm-email, /forgot-password, /login
//	                     the forms the emailed links open
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/httpapi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal during the shutdown kills at once
	}()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses the flags and serves until ctx ends, returning the exit
// code: 0 after a clean shutdown, 2 for bad flags, 1 for any other
// failure. The listening address and the first start's invitation link go
// to stdout, the log to stderr.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	c, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "server:", err)
		return 2
	}
	level := slog.LevelInfo
	if c.Verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := serve(ctx, c, stdout, log); err != nil {
		log.Error("server failed", "error", err)
		return 1
	}
	return 0
}

// serve opens the store, builds the Manager, bootstraps an empty database,
// starts the workers and serves HTTP until ctx ends; then it drains the
// HTTP server, stops the workers and closes everything.
func serve(ctx context.Context, c config, stdout io.Writer, log *slog.Logger) (err error) {
	store, closeStore, err := openStore(ctx, c)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeStore()) }()
	keys, err := loadOrCreateKeys(c.KeyFile, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	baseURL := c.BaseURL
	if baseURL == "" {
		baseURL = "http://" + ln.Addr().String()
	}
	mailer, closeMailer, err := newMailer(c, baseURL, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeMailer()) }()
	opts := []usermgmt.Option{usermgmt.WithOutboxKeys(keys[0], keys[1:]...), usermgmt.WithSender(mailer), usermgmt.WithLogger(log)}
	if c.MaxHashes > 0 {
		opts = append(opts, usermgmt.WithMaxConcurrentHashes(c.MaxHashes))
	}
	m, err := usermgmt.New(store, opts...)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := bootstrap(ctx, m, c, baseURL, time.Now(), stdout, log); err != nil {
		return err
	}
	h, err := newHandler(m, c, log)
	if err != nil {
		return err
	}
	w := startWorkers(m, c, log)
	defer w.stop()

	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute, // imports upload files
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "store", c.storeName(), "mail", mailName(c))
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("draining HTTP: %w", err)
	}
	log.Info("stopped")
	return nil
}

// newHandler routes the session routes, the admin API and the pages of
// the emailed links, under the session middleware.
func newHandler(m *usermgmt.Manager, c config, log *slog.Logger) (http.Handler, error) {
	s := newSessionAPI(m, c, log)
	api, err := httpapi.New(m, httpapi.Options{BasePath: "/admin/api", Actor: s.Actor, Logger: log})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET /me", s.me)
	mux.Handle("/admin/api/", api)
	for path, p := range pages {
		mux.HandleFunc("GET "+path, servePage(p, c.AppName))
	}
	return s.sessions.LoadAndSave(mux), nil
}

// mailName says where emails go, for the log.
func mailName(c config) string {
	if c.SMTP.Host == "" {
		return "logged (no -smtp-host)"
	}
	return "smtp " + c.SMTP.Host
}
