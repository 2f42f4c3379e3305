package bulk

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
	"github.com/usermgmt/usermgmt/store/sqlitestore"
)

// BenchmarkImport compares Import (Apply) of a file of new users, from CSV
// and from XLSX, with Manager.InviteUsers of the same rows, on a fresh
// store each time: what reading, checking and resolving a file adds to the
// writes (users, audit events, invitations sealed in the outbox). The
// store is a fresh SQLite file (store/sqlitestore, default options) in a
// temporary directory.
//
// Each iteration runs the three, in an order that rotates from one
// iteration to the next, so that a noisy neighbour slows all three alike,
// and reports each one's mean time (invite-s/op, csv-s/op, xlsx-s/op) and
// the ratios csv/invite and xlsx/invite. 100,000 rows by default;
// USERMGMT_BULK_BENCH_ROWS changes it:
//
//	go test -run '^$' -bench BenchmarkImport -benchtime 3x ./bulk/
func BenchmarkImport(b *testing.B) {
	n := benchRows(b)
	dir := b.TempDir()
	csvPath, xlsxPath := filepath.Join(dir, "users.csv"), filepath.Join(dir, "users.xlsx")
	writeImportCSV(b, csvPath, n)
	writeSharedXLSX(b, xlsxPath, n, importRow)
	rows := make([]usermgmt.NewUser, n)
	for i := range rows {
		c := importRow(i)
		rows[i] = usermgmt.NewUser{Email: c[0], FirstName: c[1], LastName: c[2], Role: c[3]}
	}
	ctx := context.Background()
	run := [3]func(m *usermgmt.Manager, acct string){
		func(m *usermgmt.Manager, acct string) {
			res, err := m.InviteUsers(ctx, usermgmt.System, usermgmt.BulkInvite{AccountID: acct, Rows: rows})
			if err != nil {
				b.Fatal(err)
			}
			if res[n-1].Outcome != usermgmt.Invited {
				b.Fatalf("last row: %s", res[n-1].Outcome)
			}
		},
		func(m *usermgmt.Manager, acct string) { importAll(b, m, acct, csvPath, n) },
		func(m *usermgmt.Manager, acct string) { importAll(b, m, acct, xlsxPath, n) },
	}
	var took [3]time.Duration
	b.ResetTimer()
	for i := range b.N {
		for k := range 3 {
			j := (i + k) % 3
			b.StopTimer()
			m, acct := benchManager(b)
			runtime.GC()
			b.StartTimer()
			start := time.Now()
			run[j](m, acct)
			took[j] += time.Since(start)
		}
	}
	b.ReportMetric(took[0].Seconds()/float64(b.N), "invite-s/op")
	b.ReportMetric(took[1].Seconds()/float64(b.N), "csv-s/op")
	b.ReportMetric(took[2].Seconds()/float64(b.N), "xlsx-s/op")
	b.ReportMetric(float64(took[1])/float64(took[0]), "csv/invite")
	b.ReportMetric(float64(took[2])/float64(took[0]), "xlsx/invite")
}

func importAll(tb testing.TB, m *usermgmt.Manager, acct, path string, n int) {
	tb.Helper()
	rep := importPath(tb, m, acct, path)
	if rep.Counts[usermgmt.Invited] != n {
		tb.Fatalf("invited %d of %d: %v", rep.Counts[usermgmt.Invited], n, rep.Counts)
	}
}

func benchRows(tb testing.TB) int {
	if v := os.Getenv("USERMGMT_BULK_BENCH_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			tb.Fatalf("USERMGMT_BULK_BENCH_ROWS=%q: want a row count", v)
		}
		return n
	}
	return 100_000
}

// importRow returns the cells of data row i of an import file, in the
// columns of ExportFields: a new user invited with the general role.
func importRow(i int) [11]string {
	c := memoryRow(i)
	return [11]string{c[0], c[1], c[2], usermgmt.RoleGeneral, "", "", "", "yes", "", "", ""}
}

func writeImportCSV(tb testing.TB, path string, rows int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w, err := NewWriter(f, FormatCSV, WriteOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range rows {
		c := importRow(i)
		if err := w.Write(Record{Email: c[0], FirstName: c[1], LastName: c[2], Role: c[3], Active: true}); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// benchManager is a Manager with an outbox over a fresh SQLite file, and
// an account to import into. The store is closed when tb ends.
func benchManager(tb testing.TB) (*usermgmt.Manager, string) {
	tb.Helper()
	s, err := sqlitestore.Open(context.Background(), filepath.Join(tb.TempDir(), "users.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	m, err := usermgmt.New(s, usermgmt.WithHashParams(fixture.FastHash), usermgmt.WithOutboxKeys(fixture.OutboxKey))
	if err != nil {
		tb.Fatal(err)
	}
	acct, _, err := m.CreateAccount(context.Background(), usermgmt.System, usermgmt.NewAccount{Name: "Bench",
		Admin: usermgmt.NewUser{Email: "admin@bench.example", FirstName: "Ad", LastName: "Min", Invite: true}})
	if err != nil {
		tb.Fatal(err)
	}
	return m, acct.ID
}

func importPath(tb testing.TB, m *usermgmt.Manager, acct, path string) *Report {
	tb.Helper()
	ctx := context.Background()
	rd, err := Open(ctx, path, ReadOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = rd.Close() }()
	rep, err := Import(ctx, m, usermgmt.System, rd, ImportOptions{AccountID: acct})
	if err != nil {
		tb.Fatal(err)
	}
	return rep
}

// TestImportMemory measures the peak memory of importing a 100,000-row
// XLSX workbook (shared strings, as a spreadsheet program saves it) in a
// child process — this test binary run again — that opens the file and
// imports it: its peak anonymous resident memory (RssAnon, sampled every
// 5 ms; see sampleAnon), which the target bounds, and beside it VmHWM, which
// also counts the database file's pages that SQLite maps.
//
// The store is a fresh SQLite file, so the figure is the whole importing
// process: reader, report, Manager and the SQLite driver with its page
// cache. For comparison the child also runs InviteUsers of the same rows
// built in memory (which prepares every row before writing), and nothing
// at all (the test binary's own footprint).
//
// 20,000 rows by default, to keep the test run short;
// USERMGMT_BULK_MEMORY_ROWS=100000 gives the figure of BENCHMARKS.md:
//
//	USERMGMT_BULK_MEMORY_ROWS=100000 go test -run TestImportMemory -v ./bulk/
func TestImportMemory(t *testing.T) {
	rows := memoryTestRows(t)
	path := filepath.Join(t.TempDir(), "users.xlsx")
	writeSharedXLSX(t, path, rows, importRow)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, what := range []string{"idle", "invite", "import"} {
		got := runImportChild(t, what, path, rows)
		t.Logf("%-6s %d rows (%.1f MB file): peak anonymous RSS %.1f MB, peak RSS with the mapped database %.1f MB, heap in use after %.1f MB, in %v",
			what, rows, float64(st.Size())/1e6, got.anonMB, got.peakMB, got.heapMB, got.took)
		if what != "idle" && got.rows != rows {
			t.Errorf("%s: %d users, want %d", what, got.rows, rows)
		}
		if what == "import" && got.anonMB >= 200 {
			t.Errorf("import: peak anonymous RSS %.1f MB, want below 200 MB", got.anonMB)
		}
	}
}

type importChildReport struct {
	rows                   int
	peakMB, anonMB, heapMB float64
	took                   time.Duration
}

const importChild = "BULK_IMPORT_MEMORY_CHILD"

var importChildLine = regexp.MustCompile(`users=(\d+) vmhwm_kb=(\d+) anon_kb=(\d+) heap_kb=(\d+) took=(\S+)`)

func runImportChild(t *testing.T, what, path string, rows int) importChildReport {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestImportMemoryChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), importChild+"="+what+":"+strconv.Itoa(rows)+":"+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child for %s: %v\n%s", what, err, out)
	}
	m := importChildLine.FindSubmatch(out)
	if m == nil {
		t.Fatalf("child for %s said:\n%s", what, out)
	}
	users, _ := strconv.Atoi(string(m[1]))
	kb, _ := strconv.Atoi(string(m[2]))
	anon, _ := strconv.Atoi(string(m[3]))
	heap, _ := strconv.Atoi(string(m[4]))
	took, _ := time.ParseDuration(string(m[5]))
	mb := func(kb int) float64 { return float64(kb) * 1024 / 1e6 }
	return importChildReport{rows: users, peakMB: mb(kb), anonMB: mb(anon), heapMB: mb(heap), took: took}
}

// TestImportMemoryChild is TestImportMemory's child.
func TestImportMemoryChild(t *testing.T) {
	v := os.Getenv(importChild)
	if v == "" {
		t.Skip("run by TestImportMemory")
	}
	parts := regexp.MustCompile(`^([a-z]+):(\d+):(.*)$`).FindStringSubmatch(v)
	if parts == nil {
		t.Fatalf("bad %s=%q", importChild, v)
	}
	what, path := parts[1], parts[3]
	rows, _ := strconv.Atoi(parts[2])
	stopSampling := sampleAnon()
	start := time.Now()
	users := 0
	switch what {
	case "import":
		m, acct := benchManager(t)
		users = importPath(t, m, acct, path).Counts[usermgmt.Invited]
	case "invite":
		m, acct := benchManager(t)
		in := make([]usermgmt.NewUser, rows)
		for i := range in {
			c := importRow(i)
			in[i] = usermgmt.NewUser{Email: c[0], FirstName: c[1], LastName: c[2], Role: c[3]}
		}
		res, err := m.InviteUsers(context.Background(), usermgmt.System, usermgmt.BulkInvite{AccountID: acct, Rows: in})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Outcome != usermgmt.Invited {
				t.Fatalf("row %d: %s", r.Row, r.Outcome)
			}
			users++
		}
	}
	took := time.Since(start)
	anonKB := stopSampling()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	hwm, err := procStatusKB("VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("users=%d vmhwm_kb=%d anon_kb=%d heap_kb=%d took=%v\n", users, hwm, anonKB, ms.HeapInuse/1024, took)
}

// sampleAnon samples the process's RssAnon (/proc/self/status) every 5 ms
// until stop is called, which returns the highest value seen, in kB.
// RssAnon is the memory the process itself holds: Go's heap, the SQLite
// driver's allocations, stacks. It leaves out the pages of the database
// file that SQLite maps (mmap_size, 1 GiB): those are the kernel's page
// cache, shared and reclaimable, yet VmHWM counts them once touched.
func sampleAnon() (stop func() int) {
	var peak atomic.Int64
	read := func() {
		if kb, err := procStatusKB("RssAnon"); err == nil && kb > peak.Load() {
			peak.Store(kb)
		}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			read()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int {
		close(done)
		<-finished
		read()
		return int(peak.Load())
	}
}
