package bulk

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"
)

var (
	created   = time.Date(2024, 5, 1, 9, 30, 0, 123, time.FixedZone("CEST", 2*3600))
	lastLogin = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
)

// exportRecords holds values a spreadsheet could take for formulas, and
// others that are hard to carry through CSV or XML.
var exportRecords = []Record{
	{Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace", Role: "admin", Account: "Acme",
		Department: "R&D", Groups: []string{"Ops", "Sales"}, Active: true, Status: "Active", Created: created, LastLogin: lastLogin},
	{Email: "anne@example.com", FirstName: "-Anne", LastName: "=HYPERLINK(\"http://evil\",\"x\")", Role: "+user",
		Account: "@acme", Department: "\tTabbed", Groups: []string{"-g"}, Status: "Invited", Created: created},
	{Email: "quote@example.com", FirstName: "'-Already", LastName: "'Plain", Role: "''=x",
		Department: "Multi\nline, \"quoted\"", Groups: nil, Status: "Disabled"},
	{Email: "zoe@example.com", FirstName: "Zoë", LastName: "Łukasz 😀 _x0041_ <b>&amp;</b>", Role: "user", Account: "12345",
		Groups: []string{"a;b"}, Active: true},
}

func TestWriteCSV(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, FormatCSV, WriteOptions{BOM: true})
	require.NoError(t, err)
	require.NoError(t, w.Write(exportRecords[0]))
	require.NoError(t, w.Write(exportRecords[1]))
	require.NoError(t, w.Close())
	want := "\uFEFF" +
		"Email,First Name,Last Name,Role,Account,Department,Groups,Active,Status,Created,Last Login\n" +
		"ada@example.com,Ada,Lovelace,admin,Acme,R&D,Ops; Sales,yes,Active,2024-05-01T07:30:00Z,2025-01-02T03:04:05Z\n" +
		"anne@example.com,'-Anne,\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",'+user,'@acme,'\tTabbed,'-g,no,Invited,2024-05-01T07:30:00Z,\n"
	assert.Equal(t, want, buf.String())

	assert.ErrorIs(t, w.Write(exportRecords[0]), errWriterClosed)
	assert.NoError(t, w.Close(), "Close twice")
}

func TestWriteXLSX(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, FormatXLSX, WriteOptions{Sheet: "People"})
	require.NoError(t, err)
	assert.Zero(t, buf.Len(), "nothing is written before Close")
	for _, r := range exportRecords {
		require.NoError(t, w.Write(r))
	}
	require.NoError(t, w.Close())

	f, err := excelize.OpenReader(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, []string{"People"}, f.GetSheetList())
	rows, err := f.GetRows("People")
	require.NoError(t, err)
	require.Len(t, rows, 1+len(exportRecords))
	assert.Equal(t, []string{"Email", "First Name", "Last Name", "Role", "Account", "Department", "Groups", "Active", "Status", "Created", "Last Login"}, rows[0])
	assert.Equal(t, "'-Anne", rows[2][1])
	assert.Equal(t, `'=HYPERLINK("http://evil","x")`, rows[2][2])
	for r := 1; r <= len(rows); r++ {
		for c := 1; c <= len(ExportFields); c++ {
			cell, _ := excelize.CoordinatesToCellName(c, r)
			formula, err := f.GetCellFormula("People", cell)
			require.NoError(t, err)
			assert.Empty(t, formula, "cell %s holds no formula", cell)
			typ, err := f.GetCellType("People", cell)
			require.NoError(t, err)
			if v, _ := f.GetCellValue("People", cell); v != "" {
				assert.Equal(t, excelize.CellTypeInlineString, typ, "cell %s is a string cell", cell)
			}
		}
	}
}

func TestWriterErrors(t *testing.T) {
	_, err := NewWriter(&bytes.Buffer{}, FormatDetect, WriteOptions{})
	assert.Error(t, err)
	_, err = NewWriter(&bytes.Buffer{}, FormatXLSX, WriteOptions{Sheet: "bad/name"})
	assert.Error(t, err)

	// An error of the io.Writer is returned by Write (CSV buffers, so by
	// Close at the latest) or by Close (XLSX).
	for _, format := range []Format{FormatCSV, FormatXLSX} {
		w, err := NewWriter(failWriter{}, format, WriteOptions{})
		require.NoError(t, err)
		var werr error
		for range 1000 {
			if werr = w.Write(exportRecords[0]); werr != nil {
				break
			}
		}
		cerr := w.Close()
		assert.ErrorIs(t, errors.Join(werr, cerr), errDiskFull, format.String())
	}
}

var errDiskFull = errors.New("disk full")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errDiskFull }

// Export then import gives back what was exported.
func TestExportImportRoundTrip(t *testing.T) {
	for _, format := range []Format{FormatCSV, FormatXLSX} {
		t.Run(format.String(), func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewWriter(&buf, format, WriteOptions{})
			require.NoError(t, err)
			for _, r := range exportRecords {
				require.NoError(t, w.Write(r))
			}
			require.NoError(t, w.Close())

			res := readAll(t, buf.Bytes(), ReadOptions{})
			require.NoError(t, res.err)
			assert.Equal(t, format, res.rd.Format())
			assert.Empty(t, res.rd.Unknown(), "an export has no unknown columns")
			require.Len(t, res.rows, len(exportRecords))
			for i, want := range exportRecords {
				got := res.rows[i]
				assert.Empty(t, got.Errors)
				assert.Equal(t, want.Email, got.Email)
				assert.Equal(t, want.FirstName, got.FirstName)
				assert.Equal(t, want.LastName, got.LastName)
				assert.Equal(t, want.Role, got.Role)
				assert.Equal(t, want.Account, got.Account)
				assert.Equal(t, want.Department, got.Department)
				assert.Equal(t, splitList(joinGroups(want.Groups)), got.Groups)
				require.NotNil(t, got.Active)
				assert.Equal(t, want.Active, *got.Active)
				status, _ := got.Value(FieldStatus)
				assert.Equal(t, want.Status, status)
				c, _ := got.Value(FieldCreated)
				assert.Equal(t, formatTime(want.Created), c)
				l, _ := got.Value(FieldLastLogin)
				assert.Equal(t, formatTime(want.LastLogin), l)
				if !want.Created.IsZero() {
					parsed, err := time.Parse(TimeLayout, c)
					require.NoError(t, err)
					assert.True(t, parsed.Equal(want.Created.Truncate(time.Second)))
				}
			}
			// Group names holding a separator are the one thing that does
			// not come back as written.
			assert.Equal(t, []string{"a", "b"}, res.rows[3].Groups)
		})
	}
}

func joinGroups(g []string) string {
	var b bytes.Buffer
	for i, s := range g {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(s)
	}
	return b.String()
}
