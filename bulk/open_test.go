package bulk

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOpenSaysWhy: a path that cannot be opened is ErrRead with the reason
// in the message ("the file could not be read" alone sends an admin who
// mistyped the name looking for a broken file).
func TestOpenSaysWhy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	_, err := Open(ctx, filepath.Join(dir, "missing.csv"), ReadOptions{})
	requireFileErr(t, err, ErrRead)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.EqualError(t, err, "bulk: the file could not be read: no such file")

	_, err = Open(ctx, dir, ReadOptions{})
	requireFileErr(t, err, ErrRead)
	require.EqualError(t, err, "bulk: the file could not be read: it is a directory")

	if os.Geteuid() != 0 { // root reads whatever the mode says
		locked := filepath.Join(dir, "locked.csv")
		require.NoError(t, os.WriteFile(locked, []byte("email\n"), 0o000))
		_, err = Open(ctx, locked, ReadOptions{})
		requireFileErr(t, err, ErrRead)
		require.EqualError(t, err, "bulk: the file could not be read: permission denied")
	}
}
