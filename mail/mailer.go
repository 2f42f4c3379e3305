package mail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	netmail "net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt"
)

// Config configures a Mailer. AppName, From, Transport and one of BaseURL
// or Link are required.
type Config struct {
	// AppName is the product's name as recipients know it ("Acme
	// Portal"): it appears in subjects and bodies, and is the sender's
	// display name unless FromName is set.
	AppName string
	// From is the sender's bare address ("no-reply@acme.example"). Its
	// domain, which must be ASCII (the xn-- form of an international
	// one), also names every Message-ID.
	From string
	// FromName is the sender's display name; empty means AppName.
	FromName string
	// ReplyTo is an optional bare address replies go to instead of From.
	ReplyTo string

	// BaseURL is the application's address ("https://app.acme.example"):
	// each kind's link is BaseURL + its path (Paths over DefaultPaths),
	// with the token query-escaped and appended for the kinds that carry
	// one. Set BaseURL or Link, not both.
	BaseURL string
	// Paths overrides DefaultPaths per kind. Each path starts with "/".
	Paths map[usermgmt.NotificationKind]string
	// Link builds each message's link instead of BaseURL and Paths. It
	// is called with the notification's kind and token ("" for the kinds
	// without one) and must return an absolute http or https URL, or ""
	// for no link where the kind has no token. Its error is returned by
	// Send (retried unless wrapped by usermgmt.Permanent) and must not
	// contain the token.
	Link func(kind usermgmt.NotificationKind, token string) (string, error)

	// DefaultLocale is the locale (a BCP 47 tag) used when a
	// notification's own locale and its parents have no templates; empty
	// means "en". Every kind must have templates for it, in Templates or
	// among the embedded English ones.
	DefaultLocale string
	// Templates overrides the embedded English templates and adds
	// locales. Its files are LOCALE/KIND.PART.tmpl, such as
	// "de/invitation.subject.tmpl", "de/invitation.text.tmpl" (both
	// text/template) and "de/invitation.html.tmpl" (html/template), each
	// executed with a TemplateData. A locale that has any part of a kind
	// must have all three, except that a file for "en" replaces just the
	// embedded file of the same name. Any other file name is an error.
	// For an embed.FS, pass fs.Sub(files, "dir").
	Templates fs.FS

	// Transport delivers the rendered messages: SMTP, LogTransport for
	// development, or an application's own.
	Transport Transport
}

// DefaultPaths returns the link path of each kind used with
// Config.BaseURL. For invitation, password_reset and email_change the
// token, query-escaped, is appended to the path; the other kinds link to
// the password reset request page or the sign-in page.
func DefaultPaths() map[usermgmt.NotificationKind]string {
	return map[usermgmt.NotificationKind]string{
		usermgmt.NotifyInvitation:        "/invitation?token=",
		usermgmt.NotifyPasswordReset:     "/reset-password?token=",
		usermgmt.NotifyEmailChange:       "/confirm-email?token=",
		usermgmt.NotifyLockout:           "/forgot-password",
		usermgmt.NotifyPasswordChanged:   "/forgot-password",
		usermgmt.NotifyEmailChangeNotice: "/forgot-password",
		usermgmt.NotifyLockoutAdmin:      "/login",
		usermgmt.NotifyWelcome:           "/login",
	}
}

// ErrInvalidNotification is wrapped by the errors of Render and Send for
// a notification that cannot become an email (an unknown kind, a
// recipient that is not a bare address, a missing token); those errors are
// also marked usermgmt.Permanent, since sending it again cannot help.
var ErrInvalidNotification = errors.New("mail: invalid notification")

// Mailer renders notifications from templates and sends them through a
// Transport. It implements usermgmt.Sender and is safe for concurrent use.
type Mailer struct {
	appName   string
	from      netmail.Address
	replyTo   *netmail.Address
	idDomain  string
	baseURL   string
	paths     map[usermgmt.NotificationKind]string
	link      func(usermgmt.NotificationKind, string) (string, error)
	catalog   *catalog
	transport Transport
}

var _ usermgmt.Sender = (*Mailer)(nil)

// New checks cfg and parses every template, executing each against
// sample data: a template error (syntax, a field TemplateData lacks, a
// kind without templates for the default locale) fails here, never at
// send time.
func New(cfg Config) (*Mailer, error) {
	if strings.TrimSpace(cfg.AppName) == "" {
		return nil, errors.New("mail: Config.AppName is empty")
	}
	if hasControl(cfg.AppName) || hasControl(cfg.FromName) {
		return nil, errors.New("mail: Config.AppName or FromName contains a control character")
	}
	if cfg.Transport == nil {
		return nil, errors.New("mail: Config.Transport is nil (use SMTP, LogTransport or your own)")
	}
	if err := checkAddress("Config.From", cfg.From); err != nil {
		return nil, err
	}
	domain := cfg.From[strings.LastIndexByte(cfg.From, '@')+1:]
	if !dotAtom(domain) {
		return nil, fmt.Errorf("mail: the domain of Config.From (%q) cannot name a Message-ID: give its ASCII (xn--) form", domain)
	}
	m := &Mailer{
		appName:   cfg.AppName,
		from:      netmail.Address{Name: cfg.FromName, Address: cfg.From},
		idDomain:  strings.ToLower(domain),
		link:      cfg.Link,
		transport: cfg.Transport,
	}
	if m.from.Name == "" {
		m.from.Name = cfg.AppName
	}
	if cfg.ReplyTo != "" {
		if err := checkAddress("Config.ReplyTo", cfg.ReplyTo); err != nil {
			return nil, err
		}
		m.replyTo = &netmail.Address{Address: cfg.ReplyTo}
	}

	switch {
	case cfg.BaseURL != "" && cfg.Link != nil:
		return nil, errors.New("mail: set Config.BaseURL or Config.Link, not both")
	case cfg.BaseURL == "" && cfg.Link == nil:
		return nil, errors.New("mail: set Config.BaseURL or Config.Link to build the links")
	case cfg.BaseURL != "":
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("mail: Config.BaseURL %q is not an http or https URL without query", cfg.BaseURL)
		}
		m.baseURL = strings.TrimRight(cfg.BaseURL, "/")
		m.paths = DefaultPaths()
		for kind, p := range cfg.Paths {
			if _, known := m.paths[kind]; !known {
				return nil, fmt.Errorf("mail: Config.Paths: unknown kind %q", kind)
			}
			if !strings.HasPrefix(p, "/") || hasControl(p) {
				return nil, fmt.Errorf("mail: Config.Paths[%s] %q does not start with /", kind, p)
			}
			if _, err := url.Parse(m.baseURL + p); err != nil {
				return nil, fmt.Errorf("mail: Config.Paths[%s] %q: %w", kind, p, err)
			}
			m.paths[kind] = p
		}
	}

	locale := cfg.DefaultLocale
	if locale == "" {
		locale = "en"
	}
	if _, ok := normalizeLocale(locale); !ok {
		return nil, fmt.Errorf("mail: Config.DefaultLocale %q is not a language tag", cfg.DefaultLocale)
	}
	c, err := loadCatalog(cfg.Templates, locale)
	if err != nil {
		return nil, err
	}
	m.catalog = c
	return m, nil
}

// Send renders n and hands it to the transport. Its error is marked
// usermgmt.Permanent when retrying cannot help (an invalid notification, a
// recipient the server refuses); it never contains the token or link.
func (m *Mailer) Send(ctx context.Context, n usermgmt.Notification) error {
	msg, err := m.Render(n)
	if err != nil {
		return err
	}
	return m.transport.Send(ctx, msg)
}

// Close releases the transport's connections if it holds any (it
// implements io.Closer, as the SMTP transport does). Send must not be
// called after Close.
func (m *Mailer) Close() error {
	if c, ok := m.transport.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// invalid marks an error about n itself: permanent, and matching
// ErrInvalidNotification.
func invalid(n usermgmt.Notification, format string, args ...any) error {
	return usermgmt.Permanent(fmt.Errorf("%w %s (%s): %s", ErrInvalidNotification, n.ID, n.Kind, fmt.Sprintf(format, args...)))
}

// Render builds the email for n without sending it: the template set for
// n's kind and locale (falling back to the locale's parents, then the
// default locale), executed with n's facts. Names are made one line
// before they reach a template and the subject; the recipient is exactly
// n.To. An error for a notification that can never render wraps
// ErrInvalidNotification and is permanent; an error from Config.Link is
// returned as Link gave it, wrapped.
func (m *Mailer) Render(n usermgmt.Notification) (*Message, error) {
	set := m.catalog.lookup(n.Kind, n.Locale)
	if set == nil {
		return nil, invalid(n, "unknown kind")
	}
	if err := checkAddress("To", n.To); err != nil {
		return nil, invalid(n, "%v", err)
	}
	if !validMessageID(n.ID + "@" + m.idDomain) {
		return nil, invalid(n, "the ID cannot be the left part of a Message-ID")
	}
	if tokenKinds[n.Kind] {
		if n.Token == "" {
			return nil, invalid(n, "no token")
		}
		if n.ExpiresAt.IsZero() {
			return nil, invalid(n, "no expiry")
		}
	}
	link, err := m.buildLink(n.Kind, n.Token)
	if err != nil {
		return nil, err
	}

	data := TemplateData{
		AppName:     m.appName,
		Kind:        n.Kind,
		Locale:      set.locale,
		FirstName:   oneLine(n.FirstName, maxName),
		LastName:    oneLine(n.LastName, maxName),
		Email:       oneLine(n.Email, maxName),
		To:          n.To,
		NewEmail:    oneLine(n.NewEmail, maxName),
		AccountName: oneLine(n.AccountName, maxName),
		ActorName:   oneLine(n.ActorName, maxName),
		Link:        link,
	}
	data.FullName = strings.TrimSpace(data.FirstName + " " + data.LastName)
	if data.Email == "" && n.Kind != usermgmt.NotifyLockoutAdmin && n.Kind != usermgmt.NotifyEmailChange {
		data.Email = n.To // the user's own address, for the kinds sent to it
	}
	if !n.At.IsZero() {
		data.At = n.At.UTC()
		data.When = formatTime(n.At)
	}
	if !n.ExpiresAt.IsZero() {
		data.ExpiresAt = n.ExpiresAt.UTC()
		data.Expires = formatTime(n.ExpiresAt)
		if !n.At.IsZero() && n.ExpiresAt.After(n.At) {
			data.ValidFor = n.ExpiresAt.Sub(n.At).Round(time.Minute)
			data.Validity = formatDuration(data.ValidFor)
		}
	}

	subject, text, html, err := set.execute(data)
	if err != nil {
		// Deterministic for these facts: sending again renders the same.
		return nil, usermgmt.Permanent(fmt.Errorf("%w %s (%s): %w", ErrInvalidNotification, n.ID, n.Kind, err))
	}
	msg := &Message{
		From:      m.from,
		ReplyTo:   m.replyTo,
		To:        netmail.Address{Address: n.To},
		Subject:   subject,
		Text:      text,
		HTML:      html,
		MessageID: n.ID + "@" + m.idDomain,
		Headers: map[string]string{
			"Auto-Submitted":           "auto-generated", // RFC 3834: no vacation replies
			"X-Auto-Response-Suppress": "All",
		},
	}
	if err := msg.Validate(); err != nil {
		return nil, usermgmt.Permanent(fmt.Errorf("%w %s (%s): %w", ErrInvalidNotification, n.ID, n.Kind, err))
	}
	return msg, nil
}

// maxName bounds a name in runes before it reaches a template.
const maxName = 100

// buildLink returns kind's link. Its errors never contain the token.
func (m *Mailer) buildLink(kind usermgmt.NotificationKind, token string) (string, error) {
	if m.link == nil {
		p := m.paths[kind]
		if tokenKinds[kind] {
			return m.baseURL + p + url.QueryEscape(token), nil
		}
		return m.baseURL + p, nil
	}
	if !tokenKinds[kind] {
		token = ""
	}
	link, err := m.link(kind, token)
	if err != nil {
		return "", fmt.Errorf("mail: Config.Link for %s: %w", kind, err)
	}
	if link == "" && !tokenKinds[kind] {
		return "", nil
	}
	u, err := url.Parse(link)
	if err != nil || hasControl(link) || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("mail: Config.Link for %s returned no absolute http or https URL", kind)
	}
	return link, nil
}
