package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt/mail"
)

// config is what the flags and the environment set.
type config struct {
	Addr    string // where the HTTP server listens
	BaseURL string // the address in emailed links; default http:// and the bound address

	DB          string // SQLite file, the default store
	Postgres    string // PostgreSQL DSN; replaces DB when set
	Redis       string // Redis URL; replaces DB when set
	RedisPrefix string

	KeyFile string // the outbox sealing keys

	AppName    string
	MailFrom   string
	SMTP       smtpConfig // SMTP.Host == "" logs mail instead of sending it
	Account    string     // the top-level account created on first start
	AdminEmail string     // its admin, invited on first start

	MaxHashes       int           // WithMaxConcurrentHashes; 0 keeps GOMAXPROCS
	LoginBurst      int           // logins a client address may make at once; 0: no limit
	DeliveryPoll    time.Duration // RunDelivery's PollInterval
	SweepInterval   time.Duration // RunSweeper's Interval
	SessionLifetime time.Duration
	SecureCookie    bool
	ShutdownTimeout time.Duration
	Verbose         bool
}

// smtpConfig is the SMTP part of config.
type smtpConfig struct {
	Host     string
	Port     int
	User     string
	Password string
	TLS      mail.TLSMode
}

// The environment variables read when the flag of the same meaning is not
// given. Secrets are better passed this way: flags show in ps.
const (
	envSMTPHost     = "USERMGMT_SMTP_HOST"
	envSMTPPort     = "USERMGMT_SMTP_PORT"
	envSMTPUser     = "USERMGMT_SMTP_USER"
	envSMTPPassword = "USERMGMT_SMTP_PASSWORD"
	envSMTPFrom     = "USERMGMT_SMTP_FROM"
	envSMTPTLS      = "USERMGMT_SMTP_TLS"
	envPostgres     = "USERMGMT_POSTGRES_URL"
	envRedis        = "USERMGMT_REDIS_URL"
)

// tlsModes names the values of -smtp-tls.
var tlsModes = map[string]mail.TLSMode{
	"starttls":      mail.StartTLS,
	"opportunistic": mail.StartTLSOpportunistic,
	"implicit":      mail.ImplicitTLS,
	"none":          mail.NoTLS,
}

// parseConfig reads the command line args, falling back on getenv for the
// SMTP settings and the database URLs. Usage and errors go to usage. It
// returns flag.ErrHelp for -h.
func parseConfig(args []string, getenv func(string) string, usage io.Writer) (config, error) {
	var c config
	var smtpPort, smtpTLS string
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.Usage = func() {
		fmt.Fprintf(usage, "Usage: server [flags]\n\n"+
			"The usermgmt admin API (under /admin/api/) with a login, over SQLite by default.\n"+
			"SMTP settings and database URLs may come from the environment instead:\n"+
			"%s, %s, %s, %s,\n%s, %s, %s, %s.\n\nFlags:\n",
			envSMTPHost, envSMTPPort, envSMTPUser, envSMTPPassword, envSMTPFrom, envSMTPTLS, envPostgres, envRedis)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "`address` to listen on (port 0 picks a free port; the bound address is printed)")
	fs.StringVar(&c.BaseURL, "base-url", "", "the application's `URL` in emailed links (default http:// and the bound address)")
	fs.StringVar(&c.DB, "db", "usermgmt.db", "SQLite `file` of the users, created on first run")
	fs.StringVar(&c.Postgres, "postgres", "", "PostgreSQL `DSN` to keep the users in instead of SQLite (or "+envPostgres+")")
	fs.StringVar(&c.Redis, "redis", "", "Redis `URL` to keep the users in instead of SQLite (or "+envRedis+")")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", "usermgmt:", "`prefix` of every Redis key")
	fs.StringVar(&c.KeyFile, "outbox-key", "usermgmt-outbox.key", "`file` of the keys sealing waiting emails, created (mode 0600) when absent")
	fs.StringVar(&c.AppName, "app-name", "usermgmt example", "the product's `name` in emails")
	fs.StringVar(&c.MailFrom, "smtp-from", "", "sender `address` of emails (or "+envSMTPFrom+"; default no-reply@localhost.localdomain)")
	fs.StringVar(&c.SMTP.Host, "smtp-host", "", "SMTP server `host`; without one, emails are logged, links included (or "+envSMTPHost+")")
	fs.StringVar(&smtpPort, "smtp-port", "", "SMTP server `port` (or "+envSMTPPort+"; default by TLS mode: 587, 465, 25)")
	fs.StringVar(&c.SMTP.User, "smtp-user", "", "SMTP `user` name for AUTH PLAIN (or "+envSMTPUser+")")
	fs.StringVar(&c.SMTP.Password, "smtp-password", "", "SMTP `password` (prefer "+envSMTPPassword+": flags show in ps)")
	fs.StringVar(&smtpTLS, "smtp-tls", "", "SMTP `mode`: starttls, opportunistic, implicit or none (loopback only) (or "+envSMTPTLS+"; default starttls)")
	fs.StringVar(&c.Account, "account", "Acme", "`name` of the top-level account created on first start")
	fs.StringVar(&c.AdminEmail, "admin-email", "admin@acme.example", "`email` of its admin, invited on first start")
	fs.IntVar(&c.MaxHashes, "max-hashes", 0, "compute at most `n` password hashes at once, each holding its argon2id memory (default GOMAXPROCS)")
	fs.IntVar(&c.LoginBurst, "login-burst", 20, "let a client address make `n` login attempts at once, earning one more every 3s (0: no limit)")
	fs.DurationVar(&c.DeliveryPoll, "delivery-poll", 5*time.Second, "how often the delivery worker looks for due emails when idle")
	fs.DurationVar(&c.SweepInterval, "sweep-interval", time.Hour, "how often the inactivity sweeper runs")
	fs.DurationVar(&c.SessionLifetime, "session-lifetime", 12*time.Hour, "how long a login session lasts at most")
	fs.BoolVar(&c.SecureCookie, "secure-cookie", false, "mark the session cookie Secure (set it behind an HTTPS proxy)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long SIGINT or SIGTERM waits for requests in flight")
	fs.BoolVar(&c.Verbose, "v", false, "log at debug level")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	orEnv := func(v *string, name string) {
		if *v == "" {
			*v = getenv(name)
		}
	}
	orEnv(&c.SMTP.Host, envSMTPHost)
	orEnv(&smtpPort, envSMTPPort)
	orEnv(&c.SMTP.User, envSMTPUser)
	orEnv(&c.SMTP.Password, envSMTPPassword)
	orEnv(&c.MailFrom, envSMTPFrom)
	orEnv(&smtpTLS, envSMTPTLS)
	orEnv(&c.Postgres, envPostgres)
	orEnv(&c.Redis, envRedis)
	if c.MailFrom == "" {
		c.MailFrom = "no-reply@localhost.localdomain"
	}
	if smtpPort != "" {
		p, err := strconv.Atoi(smtpPort)
		if err != nil || p < 1 || p > 65535 {
			return c, fmt.Errorf("SMTP port %q: want a number from 1 to 65535", smtpPort)
		}
		c.SMTP.Port = p
	}
	if smtpTLS != "" {
		mode, ok := tlsModes[strings.ToLower(smtpTLS)]
		if !ok {
			return c, fmt.Errorf("SMTP TLS mode %q: want starttls, opportunistic, implicit or none", smtpTLS)
		}
		c.SMTP.TLS = mode
	}
	if c.Postgres != "" && c.Redis != "" {
		return c, errors.New("give -postgres or -redis, not both")
	}
	if c.MaxHashes < 0 || c.LoginBurst < 0 {
		return c, errors.New("-max-hashes and -login-burst must not be negative")
	}
	if c.DeliveryPoll <= 0 || c.SweepInterval <= 0 || c.SessionLifetime <= 0 || c.ShutdownTimeout <= 0 {
		return c, errors.New("-delivery-poll, -sweep-interval, -session-lifetime and -shutdown-timeout must be positive")
	}
	return c, nil
}

// storeName says which store c selects, for the log.
func (c config) storeName() string {
	switch {
	case c.Postgres != "":
		return "postgres"
	case c.Redis != "":
		return "redis"
	}
	return "sqlite " + c.DB
}
