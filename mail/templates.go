package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"path"
	"sort"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/usermgmt/usermgmt"
)

// embedded holds the English templates, the fallback for every kind.
//
//go:embed templates
var embedded embed.FS

// kinds lists every notification kind the Mailer renders.
var kinds = []usermgmt.NotificationKind{
	usermgmt.NotifyInvitation,
	usermgmt.NotifyPasswordReset,
	usermgmt.NotifyLockout,
	usermgmt.NotifyLockoutAdmin,
	usermgmt.NotifyPasswordChanged,
	usermgmt.NotifyEmailChange,
	usermgmt.NotifyEmailChangeNotice,
	usermgmt.NotifyWelcome,
}

// tokenKinds are the kinds whose link carries a token and expires.
var tokenKinds = map[usermgmt.NotificationKind]bool{
	usermgmt.NotifyInvitation:    true,
	usermgmt.NotifyPasswordReset: true,
	usermgmt.NotifyEmailChange:   true,
}

// The three parts of a message, each a file: LOCALE/KIND.PART.tmpl.
const (
	partSubject = "subject"
	partText    = "text"
	partHTML    = "html"
)

var parts = []string{partSubject, partText, partHTML}

// TemplateData is what every template is executed with. Strings that come
// from users (names, account names) are one line: control characters and
// line breaks are replaced by spaces before they reach a template. The
// preformatted fields are English; a template for another language can
// format the time fields itself (such as {{.ExpiresAt.Format "02.01.2006"}}).
type TemplateData struct {
	AppName   string                    // Config.AppName
	Kind      usermgmt.NotificationKind // which message this is
	Locale    string                    // the locale of the template set in use, lower case ("en", "de-ch")
	FirstName string                    // of the user the message is about; may be empty
	LastName  string                    // may be empty
	FullName  string                    // FirstName and LastName joined by a space; may be empty
	// Email is the address of the user the message is about; To is the
	// recipient (they differ for lockout_admin and email_change).
	Email       string
	To          string
	NewEmail    string // the requested address, for email changes
	AccountName string // may be empty
	ActorName   string // who caused the change; empty for the system or the user
	// Link is the message's link: with the token for invitation,
	// password_reset and email_change; the password reset request page
	// for lockout, password_changed and email_change_notice; the sign-in
	// page for lockout_admin and welcome. May be empty for the latter
	// when Config.Link returns no link.
	Link      string
	ExpiresAt time.Time     // when the link stops working, in UTC; zero for notices
	Expires   string        // ExpiresAt as "Monday, 7 December 2026 at 09:00 UTC"
	ValidFor  time.Duration // ExpiresAt minus At, rounded to the minute; zero when unknown
	Validity  string        // ValidFor in words ("7 days", "1 hour"); empty when unknown
	At        time.Time     // when the change happened, in UTC
	When      string        // At as "Monday, 7 December 2026 at 09:00 UTC"
}

// templateSet is one kind's three templates for one locale.
type templateSet struct {
	locale  string
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// catalog holds every template set, by locale and kind.
type catalog struct {
	sets          map[string]map[usermgmt.NotificationKind]*templateSet
	defaultLocale string
}

// templateFile is one template's source.
type templateFile struct {
	name   string // as shown in errors: "override de/invitation.text.tmpl"
	source []byte
}

// loadCatalog reads the embedded templates and the override, checks that
// every kind has templates for the default locale, and executes every set
// against sample data so that an error shows now rather than at send time.
func loadCatalog(override fs.FS, defaultLocale string) (*catalog, error) {
	files := map[string]map[usermgmt.NotificationKind]map[string]templateFile{}
	add := func(locale string, kind usermgmt.NotificationKind, part string, f templateFile) {
		if files[locale] == nil {
			files[locale] = map[usermgmt.NotificationKind]map[string]templateFile{}
		}
		if files[locale][kind] == nil {
			files[locale][kind] = map[string]templateFile{}
		}
		files[locale][kind][part] = f
	}
	sub, err := fs.Sub(embedded, "templates")
	if err != nil {
		return nil, err
	}
	if err := readTemplates(sub, "embedded", add); err != nil {
		return nil, err
	}
	if override != nil {
		if err := readTemplates(override, "override", add); err != nil {
			return nil, err
		}
	}

	c := &catalog{sets: map[string]map[usermgmt.NotificationKind]*templateSet{}, defaultLocale: defaultLocale}
	locales := make([]string, 0, len(files))
	for l := range files {
		locales = append(locales, l)
	}
	sort.Strings(locales)
	for _, locale := range locales {
		c.sets[locale] = map[usermgmt.NotificationKind]*templateSet{}
		for _, kind := range kinds {
			byPart := files[locale][kind]
			if byPart == nil {
				continue
			}
			set, err := parseSet(locale, kind, byPart)
			if err != nil {
				return nil, err
			}
			if err := set.check(kind); err != nil {
				return nil, err
			}
			c.sets[locale][kind] = set
		}
	}
	for _, kind := range kinds {
		if c.lookup(kind, "") == nil {
			return nil, fmt.Errorf("mail: no %s templates for the default locale %q (nor for a locale it falls back to)", kind, defaultLocale)
		}
	}
	return c, nil
}

// readTemplates walks fsys and hands every LOCALE/KIND.PART.tmpl file to
// add. Any other file is an error, so that a misspelt name fails New
// instead of being ignored.
func readTemplates(fsys fs.FS, origin string,
	add func(string, usermgmt.NotificationKind, string, templateFile)) error {
	return fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("mail: reading %s templates: %w", origin, err)
		}
		if d.IsDir() {
			return nil
		}
		locale, kind, part, ok := parseTemplateName(name)
		if !ok {
			return fmt.Errorf("mail: %s template %q: want LOCALE/KIND.PART.tmpl with PART subject, text or html and KIND one of %s", origin, name, kindList())
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("mail: reading %s template %q: %w", origin, name, err)
		}
		add(locale, kind, part, templateFile{name: origin + " " + name, source: src})
		return nil
	})
}

func kindList() string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// parseTemplateName splits "de-CH/invitation.text.tmpl".
func parseTemplateName(name string) (locale string, kind usermgmt.NotificationKind, part string, ok bool) {
	dir, file := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" || strings.Contains(dir, "/") {
		return "", "", "", false
	}
	locale, ok = normalizeLocale(dir)
	if !ok {
		return "", "", "", false
	}
	base, found := strings.CutSuffix(file, ".tmpl")
	if !found {
		return "", "", "", false
	}
	k, p, found := strings.Cut(base, ".")
	if !found {
		return "", "", "", false
	}
	for _, want := range kinds {
		if string(want) == k {
			for _, wp := range parts {
				if wp == p {
					return locale, want, p, true
				}
			}
		}
	}
	return "", "", "", false
}

// normalizeLocale lower-cases a BCP 47 tag and accepts "_" for "-":
// "de_CH" and "de-CH" are "de-ch". It reports false for anything that is
// not letters and digits in dash-separated subtags of 1 to 8, the first
// of 2 to 8 letters.
func normalizeLocale(tag string) (string, bool) {
	tag = strings.ToLower(strings.ReplaceAll(tag, "_", "-"))
	subtags := strings.Split(tag, "-")
	for i, s := range subtags {
		if len(s) < 1 || len(s) > 8 || (i == 0 && len(s) < 2) {
			return "", false
		}
		for j := 0; j < len(s); j++ {
			c := s[j]
			if !('a' <= c && c <= 'z') && !(i > 0 && '0' <= c && c <= '9') {
				return "", false
			}
		}
	}
	return tag, true
}

// chain lists the locales to try for a tag: "de-CH-1996" gives
// "de-ch-1996", "de-ch", "de".
func chain(tag string) []string {
	tag, ok := normalizeLocale(tag)
	if !ok {
		return nil
	}
	var out []string
	for {
		out = append(out, tag)
		i := strings.LastIndexByte(tag, '-')
		if i < 0 {
			return out
		}
		tag = tag[:i]
	}
}

// lookup finds the template set for kind in locale, falling back to the
// locale's parents, then the default locale and its parents. It returns
// nil when none has the kind.
func (c *catalog) lookup(kind usermgmt.NotificationKind, locale string) *templateSet {
	for _, l := range append(chain(locale), chain(c.defaultLocale)...) {
		if set := c.sets[l][kind]; set != nil {
			return set
		}
	}
	return nil
}

func parseSet(locale string, kind usermgmt.NotificationKind, byPart map[string]templateFile) (*templateSet, error) {
	for _, p := range parts {
		if _, ok := byPart[p]; !ok {
			return nil, fmt.Errorf("mail: templates %s/%s: the %s part (%s/%s.%s.tmpl) is missing; a locale that has one part of a kind needs all three",
				locale, kind, p, locale, kind, p)
		}
	}
	set := &templateSet{locale: locale}
	var err error
	f := byPart[partSubject]
	if set.subject, err = texttemplate.New(f.name).Parse(string(f.source)); err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	f = byPart[partText]
	if set.text, err = texttemplate.New(f.name).Parse(string(f.source)); err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	f = byPart[partHTML]
	if set.html, err = htmltemplate.New(f.name).Parse(string(f.source)); err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	return set, nil
}

// sampleLink is the link in the sample data; a set for a kind with a token
// must show it in both bodies.
const sampleLink = "https://app.example.com/sample-link?token=SAMPLE-TOKEN"

// check executes the set against a full and an empty sample, so that a
// reference to a field TemplateData lacks (on either side of an if)
// fails now, and makes sure a link with a token reaches both bodies.
func (s *templateSet) check(kind usermgmt.NotificationKind) error {
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	full := TemplateData{
		AppName: "Sample App", Kind: kind, Locale: s.locale,
		FirstName: "Ada", LastName: "Lovelace", FullName: "Ada Lovelace",
		Email: "ada@example.com", To: "ada@example.com", NewEmail: "ada@example.org",
		AccountName: "Analytical Engines", ActorName: "Charles Babbage",
		Link: sampleLink, At: at, When: formatTime(at),
		ExpiresAt: at.Add(168 * time.Hour), Expires: formatTime(at.Add(168 * time.Hour)),
		ValidFor: 168 * time.Hour, Validity: formatDuration(168 * time.Hour),
	}
	empty := TemplateData{AppName: "Sample App", Kind: kind, Locale: s.locale, Email: "ada@example.com", To: "ada@example.com", Link: sampleLink}
	for _, data := range []TemplateData{full, empty} {
		subject, text, html, err := s.execute(data)
		if err != nil {
			return err
		}
		switch {
		case subject == "":
			return fmt.Errorf("mail: %s renders an empty subject", s.subject.Name())
		case strings.TrimSpace(text) == "":
			return fmt.Errorf("mail: %s renders an empty body", s.text.Name())
		case strings.TrimSpace(html) == "":
			return fmt.Errorf("mail: %s renders an empty body", s.html.Name())
		}
		if tokenKinds[kind] {
			if !strings.Contains(text, sampleLink) {
				return fmt.Errorf("mail: %s never shows the link ({{.Link}})", s.text.Name())
			}
			if !strings.Contains(html, sampleLink) {
				return fmt.Errorf("mail: %s never shows the link ({{.Link}})", s.html.Name())
			}
		}
	}
	return nil
}

// execute renders the three parts. The subject comes back as one line.
func (s *templateSet) execute(data TemplateData) (subject, text, html string, err error) {
	var b bytes.Buffer
	if err := s.subject.Execute(&b, data); err != nil {
		return "", "", "", fmt.Errorf("mail: %w", err)
	}
	subject = oneLine(b.String(), maxSubject)
	b.Reset()
	if err := s.text.Execute(&b, data); err != nil {
		return "", "", "", fmt.Errorf("mail: %w", err)
	}
	text = strings.TrimSpace(b.String()) + "\n"
	b.Reset()
	if err := s.html.Execute(&b, data); err != nil {
		return "", "", "", fmt.Errorf("mail: %w", err)
	}
	return subject, text, b.String(), nil
}

// maxSubject bounds a subject line in runes, whatever names it carries.
const maxSubject = 200

// formatTime writes t in UTC as "Monday, 7 December 2026 at 09:00 UTC".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("Monday, 2 January 2006 at 15:04 UTC")
}

// formatDuration writes d in words: whole days as "7 days", whole hours
// as "1 hour", anything else in minutes ("90 minutes"). It returns "" for
// a duration under a minute.
func formatDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d < time.Minute:
		return ""
	case d%(24*time.Hour) == 0:
		return plural(int64(d/(24*time.Hour)), "day")
	case d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	default:
		return plural(int64(d/time.Minute), "minute")
	}
}
