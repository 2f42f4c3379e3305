package main

import (
	"context"
	"strings"
	"testing"

	"github.com/usermgmt/usermgmt/store/memstore"
)

// TestStory runs the quickstart and checks the story it tells.
func TestStory(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), memstore.New(), &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"accepted the invitation: active",
		"ten wrong passwords: usermgmt: invalid credentials; usermgmt: user locked",
		"the right password now: usermgmt: user locked",
		"the sweep made 1 user(s) inactive; grace@acme.example logging in: usermgmt: user inactive",
		"inactive     by system",
		"lock         by system",
		"unlock       by ada@acme.example",
		"invite       by ada@acme.example",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("story lacks %q:\n%s", want, s)
		}
	}
}
