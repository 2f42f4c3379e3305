package bulk

import (
	"archive/zip"
	"bufio"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Peak memory of reading 100,000 rows, measured as the peak resident set
// size (VmHWM in /proc/self/status) of a child process — this test binary
// run again — that does nothing but open the file and read every row. The
// file is made beforehand by the parent, so its making does not count.
//
// The workbook is what a spreadsheet program saves: shared strings (300,000
// distinct ones: every email and both timestamps are unique) and a
// dimension; its sheet and shared-string XML are both far over the 1 MiB
// excelize keeps in memory. The CSV holds the same rows.
//
// It reads 20,000 rows by default, to keep the test run short; set
// USERMGMT_BULK_MEMORY_ROWS=100000 for the figure of the package doc:
//
//	USERMGMT_BULK_MEMORY_ROWS=100000 go test -run TestReadMemory -v ./bulk/
//
// It is skipped under the race detector (which multiplies memory and time)
// and with -short.

const (
	memDefaultRows = 20_000
	memLimitMB     = 150 // "well below 200 MB"
	memChild       = "BULK_MEMORY_CHILD"
)

func TestReadMemory(t *testing.T) {
	memRows := memoryTestRows(t)
	dir := t.TempDir()
	xlsxPath := filepath.Join(dir, "users.xlsx")
	csvPath := filepath.Join(dir, "users.csv")
	writeMemoryXLSX(t, xlsxPath, memRows)
	writeMemoryCSV(t, csvPath, memRows)

	idle := runMemoryChild(t, "idle")
	t.Logf("idle test binary: peak RSS %.1f MB", idle.peakMB)
	for _, path := range []string{xlsxPath, csvPath} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		got := runMemoryChild(t, path)
		t.Logf("%s (%.1f MB, %d rows): peak RSS %.1f MB, read in %v (CPU %v)",
			filepath.Base(path), float64(st.Size())/1e6, got.rows, got.peakMB, got.took, got.cpu)
		if got.rows != memRows {
			t.Errorf("read %d rows, want %d", got.rows, memRows)
		}
		if got.peakMB >= memLimitMB {
			t.Errorf("peak RSS %.1f MB, want below %d MB", got.peakMB, memLimitMB)
		}
	}
}

type childReport struct {
	rows      int
	peakMB    float64
	took, cpu time.Duration
}

var childLine = regexp.MustCompile(`rows=(\d+) vmhwm_kb=(\d+) took=(\S+)`)

func runMemoryChild(t *testing.T, what string) childReport {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), memChild+"="+what)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child for %s: %v\n%s", what, err, out)
	}
	m := childLine.FindSubmatch(out)
	if m == nil {
		t.Fatalf("child for %s said:\n%s", what, out)
	}
	rows, _ := strconv.Atoi(string(m[1]))
	kb, _ := strconv.Atoi(string(m[2]))
	took, _ := time.ParseDuration(string(m[3]))
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return childReport{rows: rows, peakMB: float64(kb) * 1024 / 1e6, took: took, cpu: cpu.Round(time.Millisecond)}
}

// TestMemoryChild is TestReadMemory's child: it reads the file named by
// $BULK_MEMORY_CHILD ("idle": nothing) and prints its peak RSS.
func TestMemoryChild(t *testing.T) {
	path := os.Getenv(memChild)
	if path == "" {
		t.Skip("run by TestReadMemory")
	}
	start := time.Now()
	rows := 0
	if path != "idle" {
		ctx := context.Background()
		rd, err := Open(ctx, path, ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for row, err := range rd.All(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			if !row.OK() {
				t.Fatalf("row %d: %v", row.Line, row.Errors)
			}
			rows++
		}
		if err := rd.Close(); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	hwm, err := procStatusKB("VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("rows=%d vmhwm_kb=%d took=%v\n", rows, hwm, took)
}

// memoryTestRows skips a memory test where it cannot measure (under the
// race detector, with -short, without /proc) and returns how many rows it
// works on: memDefaultRows, or USERMGMT_BULK_MEMORY_ROWS.
func memoryTestRows(t *testing.T) int {
	t.Helper()
	if raceEnabled || testing.Short() {
		t.Skip("measures memory: run without -race and without -short")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc/self/status")
	}
	v := os.Getenv("USERMGMT_BULK_MEMORY_ROWS")
	if v == "" {
		return memDefaultRows
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("USERMGMT_BULK_MEMORY_ROWS=%q: want a row count", v)
	}
	return n
}

// procStatusKB reads one "NAME:  N kB" field of /proc/self/status.
func procStatusKB(name string) (int64, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", name)
}

// memoryRow returns the cells of data row i (0-based).
func memoryRow(i int) [11]string {
	first := []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"}
	last := []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"}
	depts := []string{"Sales", "R&D", "Support", "Finance"}
	t := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 37 * time.Minute)
	return [11]string{
		fmt.Sprintf("user%06d@example.com", i), first[i%len(first)], last[i%len(last)], "user",
		fmt.Sprintf("Client %d", i%50), depts[i%len(depts)], "staff; " + depts[i%len(depts)],
		"yes", "Active", t.Format(TimeLayout), t.Add(90 * 24 * time.Hour).Format(TimeLayout),
	}
}

func writeMemoryCSV(t *testing.T, path string, rows int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(f, FormatCSV, WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		c := memoryRow(i)
		if err := w.Write(Record{Email: c[0], FirstName: c[1], LastName: c[2], Role: c[3], Account: c[4],
			Department: c[5], Groups: []string{"staff", c[5]}, Active: true, Status: c[8]}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeMemoryXLSX writes a workbook as a spreadsheet program saves one:
// every string in the shared-string table, cells referring to it, a
// dimension. The XML is streamed into the zip.
func writeMemoryXLSX(t *testing.T, path string, rows int) {
	t.Helper()
	writeSharedXLSX(t, path, rows, memoryRow)
}

// writeSharedXLSX is writeMemoryXLSX with the cells of row i from row.
func writeSharedXLSX(t testing.TB, path string, rows int, row func(i int) [11]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestSpeed)
	})
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	part := func(name string) *bufio.Writer {
		w, err := zw.Create(name)
		must(err)
		return bufio.NewWriterSize(w, 64<<10)
	}
	for _, name := range []string{"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels"} {
		w := part(name)
		_, err := w.WriteString(minimalParts[name])
		must(err)
		must(w.Flush())
	}

	// Shared strings: the header, then each row's strings; repeated
	// strings are stored once.
	index := map[string]int{}
	var order []string
	id := func(s string) int {
		if i, ok := index[s]; ok {
			return i
		}
		index[s] = len(order)
		order = append(order, s)
		return len(order) - 1
	}
	sheet := part("xl/worksheets/sheet1.xml")
	fmt.Fprintf(sheet, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`+"\n"+
		`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="A1:K%d"/><sheetData>`, rows+1)
	writeRow := func(r int, cells []string) {
		fmt.Fprintf(sheet, `<row r="%d" spans="1:11">`, r)
		for c, v := range cells {
			fmt.Fprintf(sheet, `<c r="%s%d" t="s"><v>%d</v></c>`, string(rune('A'+c)), r, id(v))
		}
		sheet.WriteString(`</row>`)
	}
	var header []string
	for _, f := range ExportFields {
		header = append(header, f.String())
	}
	writeRow(1, header)
	for i := range rows {
		c := row(i)
		writeRow(i+2, c[:])
	}
	_, err = sheet.WriteString(`</sheetData></worksheet>`)
	must(err)
	must(sheet.Flush())

	sst := part("xl/sharedStrings.xml")
	fmt.Fprintf(sst, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`+"\n"+
		`<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">`, (rows+1)*11, len(order))
	var esc strings.Builder
	for _, s := range order {
		esc.Reset()
		must(xmlEscape(&esc, s))
		fmt.Fprintf(sst, `<si><t>%s</t></si>`, esc.String())
	}
	_, err = sst.WriteString(`</sst>`)
	must(err)
	must(sst.Flush())
	must(zw.Close())
	must(f.Close())
}

func xmlEscape(w *strings.Builder, s string) error {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	_, err := r.WriteString(w, s)
	return err
}
