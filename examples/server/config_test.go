package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
	"github.com/usermgmt/usermgmt/mail"
	"github.com/usermgmt/usermgmt/store/memstore"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestConfigDefaults(t *testing.T) {
	c, err := parseConfig(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.DB != "usermgmt.db" || c.SMTP.Host != "" || c.Postgres != "" || c.Redis != "" ||
		c.MailFrom == "" || c.SMTP.TLS != mail.StartTLS {
		t.Fatalf("defaults: %+v", c)
	}
	if c.storeName() != "sqlite usermgmt.db" {
		t.Fatalf("store %q", c.storeName())
	}
}

func TestConfigSMTPFromEnvironmentAndFlags(t *testing.T) {
	vars := env(map[string]string{envSMTPHost: "smtp.env.example", envSMTPPort: "2525", envSMTPUser: "mailer",
		envSMTPPassword: "s3cret", envSMTPFrom: "no-reply@env.example", envSMTPTLS: "implicit", envRedis: "redis://127.0.0.1:1/0"})
	c, err := parseConfig(nil, vars, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := smtpConfig{Host: "smtp.env.example", Port: 2525, User: "mailer", Password: "s3cret", TLS: mail.ImplicitTLS}
	if c.SMTP != want || c.MailFrom != "no-reply@env.example" || c.storeName() != "redis" {
		t.Fatalf("from the environment: %+v", c)
	}
	// A flag wins over the environment.
	c, err = parseConfig([]string{"-smtp-host", "smtp.flag.example", "-smtp-port", "587", "-smtp-tls", "opportunistic"}, vars, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTP.Host != "smtp.flag.example" || c.SMTP.Port != 587 || c.SMTP.TLS != mail.StartTLSOpportunistic || c.SMTP.User != "mailer" {
		t.Fatalf("flags over the environment: %+v", c.SMTP)
	}
}

func TestConfigRefusals(t *testing.T) {
	for _, args := range [][]string{
		{"-smtp-tls", "ssl"},
		{"-smtp-port", "smtp"},
		{"-smtp-port", "70000"},
		{"-postgres", "postgres://db/app", "-redis", "redis://r:6379/0"},
		{"-max-hashes", "-1"},
		{"-delivery-poll", "0s"},
		{"-no-such-flag"},
		{"stray"},
	} {
		if _, err := parseConfig(args, env(nil), io.Discard); err == nil {
			t.Errorf("%q: accepted", args)
		}
	}
	var usage bytes.Buffer
	if _, err := parseConfig([]string{"-h"}, env(nil), &usage); !errors.Is(err, flag.ErrHelp) || !strings.Contains(usage.String(), envSMTPPassword) {
		t.Errorf("-h: %v\n%s", err, usage.String())
	}
}

func TestPasswordNotShownInUsage(t *testing.T) {
	var usage bytes.Buffer
	_, _ = parseConfig([]string{"-h"}, env(map[string]string{envSMTPPassword: "s3cret-from-env"}), &usage)
	if strings.Contains(usage.String(), "s3cret-from-env") {
		t.Fatal("the usage text shows the SMTP password from the environment")
	}
}

func TestKeyFile(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	path := filepath.Join(t.TempDir(), "outbox.key")
	keys, err := loadOrCreateKeys(path, log)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("created with mode %v, want 0600", info.Mode().Perm())
	}
	if len(keys) != 1 || len(keys[0].Key) != 32 || keys[0].ID == "" {
		t.Fatalf("created keys %+v", keys)
	}
	again, err := loadOrCreateKeys(path, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 1 || again[0].ID != keys[0].ID || !bytes.Equal(again[0].Key, keys[0].Key) {
		t.Fatal("the second start read another key than the first wrote")
	}
	// A rotation: the new key first, the old one kept to open what waits.
	old, _ := os.ReadFile(path)
	rotated := "new-key " + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)) + "\n" + string(old)
	if err := os.WriteFile(path, []byte(rotated), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err = loadOrCreateKeys(path, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID != "new-key" || keys[1].ID != again[0].ID {
		t.Fatalf("after rotation: %+v", keys)
	}
	if _, err := usermgmt.New(memstore.New(), usermgmt.WithOutboxKeys(keys[0], keys[1:]...)); err != nil {
		t.Fatalf("the Manager refuses the file's keys: %v", err)
	}
	for _, bad := range []string{"", "# only a comment\n", "id-without-key\n", "id c2hvcnQ=\n", "id not-base64!\n"} {
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadOrCreateKeys(path, log); err == nil {
			t.Errorf("key file %q accepted", bad)
		}
	}
}

func TestBootstrap(t *testing.T) {
	ctx := context.Background()
	m, err := usermgmt.New(memstore.New(), usermgmt.WithHashParams(fixture.FastHash))
	if err != nil {
		t.Fatal(err)
	}
	c := config{Account: "Acme", AdminEmail: "Root@Acme.example"}
	log := slog.New(slog.DiscardHandler)
	var out bytes.Buffer
	if err := bootstrap(ctx, m, c, "https://portal.example", time.Now(), &out, log); err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`admin invitation: (\S+)`).FindStringSubmatch(out.String())
	if link == nil {
		t.Fatalf("no link printed:\n%s", out.String())
	}
	u, err := url.Parse(link[1])
	if err != nil || u.Host != "portal.example" || u.Path != "/invitation" {
		t.Fatalf("link %q", link[1])
	}
	admin, err := m.AcceptInvitation(ctx, u.Query().Get("token"), usermgmt.Acceptance{Password: fixture.Password})
	if err != nil {
		t.Fatalf("accepting the printed link: %v", err)
	}
	if admin.Email != "root@acme.example" || admin.Role != usermgmt.RoleAdmin {
		t.Fatalf("the first user: %+v", admin)
	}
	// A later start finds the admin and does nothing.
	out.Reset()
	if err := bootstrap(ctx, m, c, "https://portal.example", time.Now(), &out, log); err != nil || out.Len() != 0 {
		t.Fatalf("second start: %v, printed %q", err, out.String())
	}
	page, err := m.Accounts(ctx, admin.ID, usermgmt.AccountListQuery{})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("accounts after two starts: %+v, %v", page.Items, err)
	}
}

// TestUsagePlaceholders: -h names each flag's value by what it is. The
// backquoted word of a usage string becomes the placeholder, so a word
// quoted by mistake shows as "-max-hashes once".
func TestUsagePlaceholders(t *testing.T) {
	var usage bytes.Buffer
	_, _ = parseConfig([]string{"-h"}, env(nil), &usage)
	for _, want := range []string{"-max-hashes n\n", "-login-burst n\n", "-addr address\n", "-db file\n"} {
		if !strings.Contains(usage.String(), want) {
			t.Errorf("usage has no %q:\n%s", want, usage.String())
		}
	}
}

// TestBootstrapAfterExpiry: an admin who never accepted and whose
// invitation has expired gets a new one, printed, on the next start:
// otherwise the operator has no way in (the CLI has no resend).
func TestBootstrapAfterExpiry(t *testing.T) {
	ctx := context.Background()
	clock := usermgmt.NewFakeClock(fixture.Start)
	m, err := usermgmt.New(memstore.New(), usermgmt.WithHashParams(fixture.FastHash), usermgmt.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	c := config{Account: "Acme", AdminEmail: "root@acme.example"}
	log := slog.New(slog.DiscardHandler)
	var out bytes.Buffer
	if err := bootstrap(ctx, m, c, "https://portal.example", clock.Now(), &out, log); err != nil {
		t.Fatal(err)
	}
	// Still valid: nothing printed, the first link still works.
	clock.Advance(24 * time.Hour)
	out.Reset()
	if err := bootstrap(ctx, m, c, "https://portal.example", clock.Now(), &out, log); err != nil || out.Len() != 0 {
		t.Fatalf("start within the week: %v, printed %q", err, out.String())
	}
	clock.Advance(7 * 24 * time.Hour)
	if err := bootstrap(ctx, m, c, "https://portal.example", clock.Now(), &out, log); err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`admin invitation: (\S+)`).FindStringSubmatch(out.String())
	if link == nil {
		t.Fatalf("no new link printed after the invitation expired:\n%s", out.String())
	}
	u, err := url.Parse(link[1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.AcceptInvitation(ctx, u.Query().Get("token"), usermgmt.Acceptance{Password: fixture.Password}); err != nil {
		t.Fatalf("accepting the new link: %v", err)
	}
}
