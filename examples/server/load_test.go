package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/usermgmt/usermgmt"
)

// TestLoadConcurrentLogins is the load figure of BENCHMARKS.md, run only
// with USERMGMT_LOAD=1 (it takes about a minute):
//
//	USERMGMT_LOAD=1 go test -run TestLoadConcurrentLogins -v ./examples/server/
//
// For each hash limit (-max-hashes) and number of concurrent requests it
// starts a fresh server process, imports 1,000 users with an argon2id
// hash of the default parameters (19 MiB each), and fires that many login
// requests at once, each a different user with the right password, from
// as many connections (all from one address: -login-burst 0 lifts the
// per-address limit). It counts the answers by status and reads the
// server's peak resident memory (VmHWM) from /proc/PID/status, from
// outside the process, before the flood (after the setup: one admin
// login, the import) and after it. USERMGMT_LOAD_HASHES and USERMGMT_LOAD_CONCURRENCY
// (comma-separated) change the runs.
func TestLoadConcurrentLogins(t *testing.T) {
	if os.Getenv("USERMGMT_LOAD") != "1" {
		t.Skip("the load figure runs with USERMGMT_LOAD=1")
	}
	hashLimits := intList(t, os.Getenv("USERMGMT_LOAD_HASHES"), []int{2, 8})
	concurrency := intList(t, os.Getenv("USERMGMT_LOAD_CONCURRENCY"), []int{100, 1000})
	const users = 1000
	csvFile := loadUsersCSV(t, users)

	type result struct {
		hashes, requests int
		codes            map[int]int
		failed           int // no answer at all
		took             time.Duration
		hwmBefore, hwm   int64 // KiB
	}
	var results []result
	for _, h := range hashLimits {
		for _, n := range concurrency {
			if n > users {
				t.Fatalf("%d requests for %d users", n, users)
			}
			srv := startServer(t, append(storeArgs(t, e2eStore()), "-max-hashes", strconv.Itoa(h), "-login-burst", "0")...)
			admin := newClient(t, srv)
			link, ok := srv.stdout.waitPrefix("admin invitation: ", time.Second)
			if !ok {
				t.Fatal("no invitation printed")
			}
			u, err := url.Parse(link)
			if err != nil {
				t.Fatal(err)
			}
			admin.want(http.StatusNoContent, "POST", "/admin/api/public/invitation/accept",
				map[string]string{"token": u.Query().Get("token"), "password": "root of every account here"})
			admin.login("admin@acme.example", "root of every account here")
			upload(t, admin, "/admin/api/import", "load.csv", csvFile)

			pid := srv.cmd.Process.Pid
			r := result{hashes: h, requests: n, codes: map[int]int{}, hwmBefore: procStatus(t, pid, "VmHWM")}
			var mu sync.Mutex
			var wg sync.WaitGroup
			start := make(chan struct{})
			tr := &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 5 * time.Minute}
			for i := range n {
				wg.Go(func() {
					body := fmt.Sprintf(`{"email":"load%04d@acme.example","password":%q}`, i, loadPassword)
					req, _ := http.NewRequest("POST", srv.URL+"/login", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					<-start
					res, err := hc.Do(req)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						r.failed++
						return
					}
					res.Body.Close()
					r.codes[res.StatusCode]++
				})
			}
			t0 := time.Now()
			close(start)
			wg.Wait()
			r.took = time.Since(t0)
			r.hwm = procStatus(t, pid, "VmHWM")
			if code := srv.stop(syscall.SIGTERM, time.Minute); code != 0 {
				t.Fatalf("exit code %d", code)
			}
			answered := 0
			for _, c := range r.codes {
				answered += c
			}
			if r.failed > 0 || answered != n {
				t.Errorf("-max-hashes %d, %d requests: %d answered, %d failed", h, n, answered, r.failed)
			}
			results = append(results, r)
		}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "| -max-hashes | concurrent logins | answers | took | VmHWM before | VmHWM after |\n|---|---|---|---|---|---|\n")
	for _, r := range results {
		var codes []string
		for c, k := range r.codes {
			codes = append(codes, fmt.Sprintf("%d × %d", k, c))
		}
		sort.Strings(codes)
		if r.failed > 0 {
			codes = append(codes, fmt.Sprintf("%d × no answer", r.failed))
		}
		fmt.Fprintf(&out, "| %d | %d | %s | %.1f s | %d MiB | %d MiB |\n", r.hashes, r.requests, strings.Join(codes, ", "),
			r.took.Seconds(), r.hwmBefore/1024, r.hwm/1024)
	}
	t.Logf("concurrent logins against the server process (%s store):\n%s", storeKind(), out.String())
}

// loadPassword is every load user's password.
const loadPassword = "load test passphrase, long enough"

// loadUsersCSV is an import file of n users, load0000@acme.example and
// on, all with one argon2id hash of loadPassword made with the library's
// default parameters, so that every login verifies a full-cost hash.
func loadUsersCSV(t *testing.T, n int) string {
	t.Helper()
	p := usermgmt.DefaultHashParams()
	salt := []byte("load-test-salt16")
	key := argon2.IDKey([]byte(loadPassword), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
	b64 := base64.RawStdEncoding
	hash := fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Iterations, p.Parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key))
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"Email", "First Name", "Last Name", "Password Hash"})
	for i := range n {
		_ = w.Write([]string{fmt.Sprintf("load%04d@acme.example", i), "Load", fmt.Sprintf("User %d", i), hash})
	}
	w.Flush()
	return buf.String()
}

// procStatus reads a field in KiB (VmRSS, VmHWM) of /proc/PID/status.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the server's memory needs Linux's /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s: %q", field, rest)
			}
			return kb
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// intList parses a comma-separated list, or returns def for "".
func intList(t *testing.T, s string, def []int) []int {
	t.Helper()
	if s == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			t.Fatalf("%q: want positive numbers", s)
		}
		out = append(out, n)
	}
	return out
}

// storeKind names the store the end-to-end tests run on.
func storeKind() string {
	if k := e2eStore(); k != "" {
		return k
	}
	return "sqlite"
}
