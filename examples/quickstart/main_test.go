package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/memstore"
)

// TestStory runs the quickstart as main does, on a temporary SQLite file,
// then on a named file, and on the in-memory store, and checks the story
// it tells.
func TestStory(t *testing.T) {
	named := filepath.Join(t.TempDir(), "kept.db")
	for name, story := range map[string]func(context.Context, io.Writer) error{
		"temporary SQLite file": func(ctx context.Context, w io.Writer) error { return tell(ctx, "", w) },
		"named SQLite file":     func(ctx context.Context, w io.Writer) error { return tell(ctx, named, w) },
		"memstore":              func(ctx context.Context, w io.Writer) error { return run(ctx, memstore.New(), w) },
	} {
		t.Run(name, func(t *testing.T) { checkStory(t, story) })
	}
	if _, err := os.Stat(named); err != nil {
		t.Fatalf("the named file was not kept: %v", err)
	}
	// Telling the story again into the same file says why it cannot.
	err := tell(context.Background(), named, io.Discard)
	if !errors.Is(err, usermgmt.ErrDuplicateEmail) || !strings.Contains(err.Error(), "name a new file") {
		t.Fatalf("second story in one file: %v", err)
	}
}

func checkStory(t *testing.T, story func(context.Context, io.Writer) error) {
	var out strings.Builder
	if err := story(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"✉ to grace@acme.example: \"Ada Admin invited you to Acme Corp on Acme Portal\"",
		"followed the link and accepted the invitation: active",
		"ten wrong passwords: usermgmt: invalid email or password; usermgmt: user is locked",
		"✉ to grace@acme.example: \"Your Acme Portal account has been locked\"",
		"the right password now: usermgmt: user is locked",
		"reset the password through the emailed link: unlocked",
		"the sweep made 1 user(s) inactive; grace@acme.example logging in: usermgmt: user is inactive",
		"inactive       by system",
		"lock           by system",
		"password_reset by grace@acme.example",
		"invite         by ada@acme.example",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("story lacks %q:\n%s", want, s)
		}
	}
}
