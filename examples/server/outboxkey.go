package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt"
)

// The outbox key file holds the keys that seal waiting emails
// (usermgmt.WithOutboxKeys): one key a line, "ID BASE64-KEY", the current
// key first and older ones after it, kept to open what was sealed before a
// rotation; blank lines and lines starting with # are ignored. To rotate,
// put a new line first. A missing file is created with one new key, mode
// 0600. Without the key, the links of emails still waiting cannot be read:
// keep the file with the database, and out of backups of it.

// loadOrCreateKeys reads the key file at path, creating it first when it
// does not exist.
func loadOrCreateKeys(path string, log *slog.Logger) ([]usermgmt.OutboxKey, error) {
	if err := createKeyFile(path); err == nil {
		log.Info("created the outbox key file", "path", path)
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		log.Warn("the outbox key file is readable by others; chmod 600 it", "path", path, "mode", info.Mode().Perm().String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseKeys(path, b)
}

// createKeyFile writes a new key file at path, failing with fs.ErrExist
// when there is one already (O_EXCL: two servers started at once on one
// directory cannot both write one).
func createKeyFile(path string) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	id := time.Now().UTC().Format("2006-01-02T150405")
	_, err = fmt.Fprintf(f, "# usermgmt outbox keys: ID BASE64-KEY, the current key first.\n%s %s\n",
		id, base64.StdEncoding.EncodeToString(key))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}

// parseKeys reads the lines of a key file.
func parseKeys(path string, b []byte) ([]usermgmt.OutboxKey, error) {
	var keys []usermgmt.OutboxKey
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, enc, ok := strings.Cut(line, " ")
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
		if !ok || err != nil || len(key) != 32 {
			return nil, fmt.Errorf("%s:%d: want \"ID BASE64-KEY\" with a 32-byte key", path, n)
		}
		keys = append(keys, usermgmt.OutboxKey{ID: id, Key: key})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no key", path)
	}
	return keys, nil
}
