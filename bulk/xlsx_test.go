package bulk

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"
)

func TestXLSXReadsSheet(t *testing.T) {
	f := excelize.NewFile()
	defer f.Close()
	rows := [][]any{
		nil, // row 1 empty: the header is row 2
		{"Email", "First Name", "Last Name", "Active", "Groups", "Account ID", "Created"},
		{" ada@example.com ", "Ada", "Lovelace", true, "g1; g2", 4711, "x"},
		nil,
		{"grace@example.com", "Grace", "Hopper", "no", "", 3.5},
		{"", "", ""}, // empty strings: skipped
		{"alan@example.com", "'-Alan", "Turing"},
	}
	for i, r := range rows {
		if r != nil {
			require.NoError(t, f.SetSheetRow("Sheet1", fmt.Sprintf("A%d", i+1), &r))
		}
	}
	// A date cell shows as displayed.
	require.NoError(t, f.SetCellValue("Sheet1", "G3", time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)))
	style, err := f.NewStyle(&excelize.Style{NumFmt: 14})
	require.NoError(t, err)
	require.NoError(t, f.SetCellStyle("Sheet1", "G3", "G3", style))
	var buf bytes.Buffer
	require.NoError(t, f.Write(&buf))

	res := readAll(t, buf.Bytes(), ReadOptions{})
	require.NoError(t, res.err)
	assert.Equal(t, FormatXLSX, res.rd.Format())
	assert.Equal(t, "Sheet1", res.rd.Sheet())
	assert.Equal(t, rune(0), res.rd.Delimiter())
	assert.Equal(t, 2, res.rd.HeaderLine())
	require.Len(t, res.rows, 3)

	r := res.rows[0]
	assert.Equal(t, 3, r.Line)
	assert.Empty(t, r.Errors)
	assert.Equal(t, "ada@example.com", r.Email)
	require.NotNil(t, r.Active)
	assert.True(t, *r.Active, "a boolean cell reads as TRUE")
	assert.Equal(t, []string{"g1", "g2"}, r.Groups)
	assert.Equal(t, "4711", r.Account)
	v, _ := r.Value(FieldCreated)
	assert.Equal(t, "05-01-24", v, "cells read as displayed")

	assert.Equal(t, 5, res.rows[1].Line)
	assert.Equal(t, "3.5", res.rows[1].Account)
	require.NotNil(t, res.rows[1].Active)
	assert.False(t, *res.rows[1].Active)
	assert.Equal(t, 7, res.rows[2].Line)
	assert.Equal(t, "-Alan", res.rows[2].FirstName)

	p := res.rd.Progress()
	assert.True(t, p.Done)
	assert.Equal(t, 3, p.Rows)
	assert.Equal(t, int64(buf.Len()), p.TotalBytes)
}

func TestXLSXSheetChoice(t *testing.T) {
	data := makeXLSX(t, map[string][][]any{
		"Notes":  {{"nothing here"}},
		"People": {{"Email"}, {"p@x.io"}},
	}, "Notes", "People")
	res := readAll(t, data, ReadOptions{Sheet: "people"})
	require.NoError(t, res.err)
	assert.Equal(t, "People", res.rd.Sheet())
	require.Len(t, res.rows, 1)
	assert.Equal(t, "p@x.io", res.rows[0].Email)

	// The first sheet by default.
	requireFileErr(t, readAll(t, data, ReadOptions{}).err, ErrNoEmailColumn)

	fe := requireFileErr(t, readAll(t, data, ReadOptions{Sheet: "Staff"}).err, ErrSheetNotFound)
	assert.Equal(t, `bulk: the workbook has no such sheet: no sheet is named "Staff"; the workbook's sheets are "Notes", "People"`, fe.Error())
}

func TestXLSXRowErrors(t *testing.T) {
	data := sheet1(t,
		[]string{"Email", "First Name", "", "Active"},
		[]string{"a@x.io", "Ann"},                      // short rows are fine in a sheet
		[]string{"b@x.io", "Bob", "", "", "", "extra"}, // a value right of the header
		[]string{"c@x.io", strings.Repeat("y", DefaultMaxCellBytes+1), "", "perhaps"},
	)
	res := readAll(t, data, ReadOptions{})
	require.NoError(t, res.err)
	require.Len(t, res.rows, 3)
	assert.Empty(t, res.rows[0].Errors)
	assert.Equal(t, []error{ErrRaggedRow}, rowErrs(res.rows[1]))
	assert.Equal(t, []error{ErrCellTooLong, ErrInvalidBoolean}, rowErrs(res.rows[2]))
	assert.Equal(t, `row 4, column D "Active": bulk: the cell is not yes or no`, res.rows[2].Errors[1].Error())
	assert.Equal(t, `row 3: bulk: the row does not match the header's columns`, res.rows[1].Errors[0].Error())
	assert.Equal(t, []Column{{3, "", FieldUnknown}}, res.rd.Unknown())
}

func TestXLSXMinimalWorkbook(t *testing.T) {
	// Inline strings, no styles, no shared strings, rows without numbers,
	// a formula's cached value, a namespace prefix.
	sheet := `<?xml version="1.0" encoding="UTF-8"?>
<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:sheetData>
<x:row><x:c t="inlineStr"><x:is><x:t>Email</x:t></x:is></x:c><x:c t="inlineStr"><x:is><x:t>Role</x:t></x:is></x:c></x:row>
<x:row><x:c t="inlineStr"><x:is><x:t>a@x.io</x:t></x:is></x:c><x:c t="str"><x:f>"ad"&amp;"min"</x:f><x:v>admin</x:v></x:c></x:row>
</x:sheetData></x:worksheet>`
	data := zipParts(t, minimalParts, map[string]string{"xl/worksheets/sheet1.xml": sheet})
	res := readAll(t, data, ReadOptions{})
	require.NoError(t, res.err)
	require.Len(t, res.rows, 1)
	assert.Equal(t, 2, res.rows[0].Line)
	assert.Equal(t, "a@x.io", res.rows[0].Email)
	assert.Equal(t, "admin", res.rows[0].Role)
}

func TestXLSXMalformed(t *testing.T) {
	good := zipParts(t, minimalParts, map[string]string{"xl/worksheets/sheet1.xml": sheetXML(
		`<row r="1"><c t="inlineStr"><is><t>Email</t></is></c></row>`)})
	require.NoError(t, readAll(t, good, ReadOptions{}).err, "the base case reads")

	for _, tc := range []struct {
		name string
		data []byte
		opts ReadOptions
		want error
		says string
	}{
		{"not a zip, named .xlsx", []byte("Email\na@x.io\n"), ReadOptions{Name: "users.xlsx"}, ErrMalformed, "not a zip archive"},
		{"not a zip, asked for XLSX", []byte("Email\n"), ReadOptions{Format: FormatXLSX}, ErrMalformed, "not one"},
		{"zip, asked for CSV", good, ReadOptions{Format: FormatCSV}, ErrMalformed, "not CSV"},
		{"legacy xls", append(append([]byte{}, oleMagic...), make([]byte, 512)...), ReadOptions{}, ErrMalformed, "legacy .xls"},
		{"named .xls", []byte("Email\n"), ReadOptions{Name: "old.XLS"}, ErrMalformed, "legacy .xls"},
		{"truncated", good[:len(good)/2], ReadOptions{}, ErrMalformed, "not a zip archive"},
		{"empty zip", zipParts(t, nil), ReadOptions{}, ErrMalformed, "[content_types].xml"},
		{"no rels", zipParts(t, minimalParts, map[string]string{"_rels/.rels": omit}), ReadOptions{}, ErrMalformed, "_rels/.rels"},
		{"no workbook", zipParts(t, minimalParts, map[string]string{"xl/workbook.xml": omit}), ReadOptions{}, ErrMalformed, "cannot open the workbook"},
		{"no sheets listed", zipParts(t, minimalParts, map[string]string{"xl/workbook.xml": `<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets/></workbook>`}), ReadOptions{}, ErrMalformed, "lists no sheets"},
		{"no sheet part", zipParts(t, minimalParts), ReadOptions{}, ErrMalformed, "cannot read the sheet"},
		{"damaged part", damage(t, good, "xl/worksheets/sheet1.xml"), ReadOptions{}, ErrMalformed, "is damaged"},
		{"rows out of order", zipParts(t, minimalParts, map[string]string{"xl/worksheets/sheet1.xml": sheetXML(
			`<row r="2"><c t="inlineStr"><is><t>Email</t></is></c></row><row r="1"><c t="inlineStr"><is><t>a</t></is></c></row>`)}),
			ReadOptions{}, ErrMalformed, "out of order"},
		{"repeated row", zipParts(t, minimalParts, map[string]string{"xl/worksheets/sheet1.xml": sheetXML(
			`<row r="1"><c t="inlineStr"><is><t>Email</t></is></c></row><row r="1"/>`)}),
			ReadOptions{}, ErrMalformed, "out of order"},
		{"too many cells", zipParts(t, minimalParts, map[string]string{"xl/worksheets/sheet1.xml": sheetXML(
			`<row r="1"><c t="inlineStr"><is><t>Email</t></is></c>` + strings.Repeat(`<c/>`, maxCellsPerRow) + `</row>`)}),
			ReadOptions{}, ErrMalformed, "more than 16384 cells"},
		{"bad cell reference", zipParts(t, minimalParts, map[string]string{"xl/worksheets/sheet1.xml": sheetXML(
			`<row r="1"><c r="1A" t="inlineStr"><is><t>Email</t></is></c></row>`)}),
			ReadOptions{}, ErrMalformed, "cannot read the row"},
		// excelize reads a missing shared string as an empty cell.
		{"shared string out of range", zipParts(t, minimalParts, map[string]string{
			"xl/worksheets/sheet1.xml": sheetXML(`<row r="1"><c t="s"><v>7</v></c></row>`),
			"xl/sharedStrings.xml":     `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>Email</t></si></sst>`}),
			ReadOptions{}, ErrEmpty, "no header row"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fe := requireFileErr(t, readAll(t, tc.data, tc.opts).err, tc.want)
			assert.Contains(t, fe.Error(), tc.says)
		})
	}
}

// damage flips bytes in the middle of a part's compressed data.
func damage(t *testing.T, data []byte, part string) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	for _, f := range zr.File {
		if f.Name != part {
			continue
		}
		off, err := f.DataOffset()
		require.NoError(t, err)
		out := append([]byte(nil), data...)
		for i := off + 2; i < off+int64(f.CompressedSize64)-2; i++ {
			out[i] ^= 0x55
		}
		return out
	}
	t.Fatalf("no part %s", part)
	return nil
}

func TestXLSXBounds(t *testing.T) {
	header := `<row r="1"><c t="inlineStr"><is><t>Email</t></is></c><c t="inlineStr"><is><t>Notes</t></is></c></row>`
	cellRow := func(r int, text string) string {
		return fmt.Sprintf(`<row r="%d"><c t="inlineStr"><is><t>x@x.io</t></is></c><c t="inlineStr"><is><t>%s</t></is></c></row>`, r, text)
	}
	book := func(rows string, extra ...map[string]string) []byte {
		parts := map[string]string{"xl/worksheets/sheet1.xml": sheetXML(header + rows)}
		for _, e := range extra {
			for k, v := range e {
				parts[k] = v
			}
		}
		return zipParts(t, minimalParts, parts)
	}

	t.Run("zip bomb", func(t *testing.T) {
		// 2 MiB of spaces inflate from a few KiB.
		data := book(cellRow(2, "ok") + strings.Repeat(" ", 2<<20))
		require.Less(t, len(data), 64<<10)
		fe := requireFileErr(t, readAll(t, data, ReadOptions{Limits: Limits{MaxUnzippedBytes: 1 << 20}}).err, ErrTooLarge)
		assert.Contains(t, fe.Error(), "uncompressed, the workbook is larger than 1 MiB")
		// Within the default bound, the long run of spaces is one XML token
		// longer than MaxRecordBytes.
		fe = requireFileErr(t, readAll(t, data, ReadOptions{}).err, ErrTooLarge)
		assert.Contains(t, fe.Error(), "piece of XML longer than")
	})
	t.Run("declared size that lies", func(t *testing.T) {
		sheet := sheetXML(header + cellRow(2, strings.Repeat("z", 100_000)))
		data := rawPartZip(t, "xl/worksheets/sheet1.xml", []byte(sheet), 1000)
		fe := requireFileErr(t, readAll(t, data, ReadOptions{}).err, ErrMalformed)
		assert.Contains(t, fe.Error(), "damaged")
		data = rawPartZip(t, "xl/worksheets/sheet1.xml", []byte(sheetXML(header)), 1<<40)
		requireFileErr(t, readAll(t, data, ReadOptions{}).err, ErrTooLarge)
	})
	t.Run("huge cell", func(t *testing.T) {
		fe := requireFileErr(t, readAll(t, book(cellRow(2, "a")+cellRow(3, strings.Repeat("y", 2<<20))), ReadOptions{}).err, ErrTooLarge)
		assert.Equal(t, 3, fe.Line)
		assert.Contains(t, fe.Error(), "row 3 is longer than 1048576 bytes of XML")
		small := ReadOptions{Limits: Limits{MaxRecordBytes: 64 << 10}}
		// A cell split into many runs is measured whole.
		runs := `<row r="2"><c t="inlineStr"><is>` + strings.Repeat(`<r><t>abcdefgh</t></r>`, 5000) + `</is></c></row>`
		requireFileErr(t, readAll(t, book(runs), small).err, ErrTooLarge)
		// And hiding text in CDATA or a comment does not help.
		cdata := `<row r="2"><c t="inlineStr"><is><t><![CDATA[` + strings.Repeat("<>", 64<<10) + `]]></t></is></c></row>`
		requireFileErr(t, readAll(t, book(cdata), small).err, ErrTooLarge)
		comment := `<!--` + strings.Repeat("<a>", 32<<10) + `-->`
		requireFileErr(t, readAll(t, book(comment), small).err, ErrTooLarge)
		directive := `<!DOCTYPE x [` + strings.Repeat(`<!ENTITY a "b>c">`, 8<<10) + `]>`
		requireFileErr(t, readAll(t, book(directive), small).err, ErrTooLarge)
	})
	t.Run("shared strings", func(t *testing.T) {
		sst := `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">` + strings.Repeat(`<si/>`, 8*10+sharedStringsSlack+1) + `</sst>`
		fe := requireFileErr(t, readAll(t, book("", map[string]string{"xl/sharedStrings.xml": sst}), ReadOptions{Limits: Limits{MaxRows: 10}}).err, ErrTooLarge)
		assert.Contains(t, fe.Error(), "shared strings")
		long := `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si>` + strings.Repeat(`<r><t>abcdefgh</t></r>`, 100_000) + `</si></sst>`
		requireFileErr(t, readAll(t, book("", map[string]string{"xl/sharedStrings.xml": long}), ReadOptions{}).err, ErrTooLarge)
	})
	t.Run("parts held in memory", func(t *testing.T) {
		// Pictures and styles are held in memory by excelize: bounded, by
		// their declared sizes, which archive/zip holds them to.
		data := rawPartZip(t, "xl/media/image1.png", []byte("png"), maxInMemoryParts+1,
			map[string]string{"xl/worksheets/sheet1.xml": sheetXML(header)})
		fe := requireFileErr(t, readAll(t, data, ReadOptions{}).err, ErrTooLarge)
		assert.Contains(t, fe.Error(), "besides its worksheets")
	})
	t.Run("rows", func(t *testing.T) {
		data := book(cellRow(2, "a") + cellRow(5, "b") + cellRow(9, "c"))
		res := readAll(t, data, ReadOptions{Limits: Limits{MaxRows: 2}})
		fe := requireFileErr(t, res.err, ErrTooManyRows)
		assert.Equal(t, 9, fe.Line)
		require.Len(t, res.rows, 2)
		assert.Equal(t, 5, res.rows[1].Line)
	})
	t.Run("input bytes", func(t *testing.T) {
		data := book(cellRow(2, "a"))
		requireFileErr(t, readAll(t, data, ReadOptions{Limits: Limits{MaxBytes: int64(len(data) - 1)}}).err, ErrTooLarge)
		// An io.Reader that does not tell its size is cut off while copied.
		_, err := NewReader(context.Background(), struct{ *bytes.Reader }{bytes.NewReader(data)},
			ReadOptions{Limits: Limits{MaxBytes: int64(len(data) - 1)}})
		requireFileErr(t, err, ErrTooLarge)
	})
}

// rawPartZip makes a workbook of minimalParts and extra, plus the part
// name stored uncompressed with content, declaring an uncompressed size of
// declared bytes whatever its real size.
func rawPartZip(t *testing.T, name string, content []byte, declared uint64, extra ...map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	parts := map[string]string{}
	for k, v := range minimalParts {
		parts[k] = v
	}
	for _, e := range extra {
		for k, v := range e {
			parts[k] = v
		}
	}
	for name, content := range parts {
		w, err := zw.Create(name)
		require.NoError(t, err)
		_, err = w.Write([]byte(content))
		require.NoError(t, err)
	}
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name: name, Method: zip.Store,
		CRC32: crc32IEEE(content), CompressedSize64: uint64(len(content)), UncompressedSize64: declared,
	})
	require.NoError(t, err)
	_, err = w.Write(content)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestXLSXProgressFromDimension(t *testing.T) {
	// Spreadsheet programs write the used range as the sheet's dimension.
	var rows strings.Builder
	rows.WriteString(`<row r="2"><c t="inlineStr"><is><t>Email</t></is></c></row>`)
	for r := 3; r <= 52; r++ {
		fmt.Fprintf(&rows, `<row r="%d"><c t="inlineStr"><is><t>u%d@x.io</t></is></c></row>`, r, r)
	}
	sheet := strings.Replace(sheetXML(rows.String()), "<sheetData>", `<dimension ref="A2:A52"/><sheetData>`, 1)
	data := zipParts(t, minimalParts, map[string]string{"xl/worksheets/sheet1.xml": sheet})
	rd, err := NewReader(context.Background(), bytes.NewReader(data), ReadOptions{})
	require.NoError(t, err)
	defer rd.Close()
	for range 10 {
		_, err := rd.Next(context.Background())
		require.NoError(t, err)
	}
	p := rd.Progress()
	assert.Equal(t, 10, p.Rows)
	assert.Equal(t, 50, p.EstimatedRows)
	assert.False(t, p.Done)
	assert.Equal(t, int64(len(data)), p.Bytes)
}

func TestOpenAndTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	tmp := t.TempDir()
	xlsxPath := filepath.Join(dir, "users.xlsx")
	// A sheet over 1 MiB of XML makes excelize use a temporary file too.
	var rows strings.Builder
	rows.WriteString(`<row><c t="inlineStr"><is><t>Email</t></is></c></row>`)
	for rows.Len() <= xmlInMemory {
		rows.WriteString(`<row><c t="inlineStr"><is><t>someone@example.com</t></is></c></row>`)
	}
	require.NoError(t, os.WriteFile(xlsxPath, zipParts(t, minimalParts, map[string]string{"xl/worksheets/sheet1.xml": sheetXML(rows.String())}), 0o600))
	csvPath := filepath.Join(dir, "users.txt")
	require.NoError(t, os.WriteFile(csvPath, []byte("Email;Name\na@x.io;A\n"), 0o600))

	ctx := context.Background()
	for _, path := range []string{xlsxPath, csvPath} {
		rd, err := Open(ctx, path, ReadOptions{TempDir: tmp})
		require.NoError(t, err)
		n := 0
		for _, err := range rd.All(ctx) {
			require.NoError(t, err)
			n++
		}
		assert.Positive(t, n)
		require.NoError(t, rd.Close())
		require.NoError(t, rd.Close(), "Close twice")
		_, err = rd.Next(ctx)
		assert.Error(t, err)
	}

	// From an io.Reader, XLSX goes through a temporary copy; all temporary
	// files are gone after Close.
	f, err := os.Open(xlsxPath)
	require.NoError(t, err)
	defer f.Close()
	rd, err := NewReader(ctx, struct{ *os.File }{f}, ReadOptions{TempDir: tmp})
	require.NoError(t, err)
	entries, _ := os.ReadDir(tmp)
	assert.NotEmpty(t, entries, "a temporary copy while reading")
	_, err = rd.Next(ctx)
	require.NoError(t, err)
	require.NoError(t, rd.Close())
	entries, _ = os.ReadDir(tmp)
	assert.Empty(t, entries, "no temporary file left")

	// A failed open leaves nothing either.
	_, err = NewReader(ctx, bytes.NewReader(zipParts(t, nil)), ReadOptions{TempDir: tmp})
	requireFileErr(t, err, ErrMalformed)
	entries, _ = os.ReadDir(tmp)
	assert.Empty(t, entries)

	_, err = Open(ctx, filepath.Join(dir, "missing.csv"), ReadOptions{})
	requireFileErr(t, err, ErrRead)
}
