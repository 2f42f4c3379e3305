package bulk

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"
)

// readResult is everything a Reader gave for one input.
type readResult struct {
	rd   *Reader
	rows []*Row
	err  error // the error that ended reading: nil at io.EOF
}

// readAll reads input to the end. A file-level error from NewReader or Next
// ends up in err.
func readAll(t testing.TB, input []byte, opts ReadOptions) readResult {
	t.Helper()
	rd, err := NewReader(context.Background(), bytes.NewReader(input), opts)
	if err != nil {
		return readResult{err: err}
	}
	t.Cleanup(func() { _ = rd.Close() })
	res := readResult{rd: rd}
	for {
		row, err := rd.Next(context.Background())
		if err == io.EOF {
			return res
		}
		if err != nil {
			res.err = err
			return res
		}
		res.rows = append(res.rows, row)
	}
}

// readCSV reads a CSV text.
func readCSV(t testing.TB, text string, opts ...ReadOptions) readResult {
	t.Helper()
	var o ReadOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Format == FormatDetect {
		o.Format = FormatCSV
	}
	return readAll(t, []byte(text), o)
}

// rowErrs lists a row's errors as "column:sentinel message" strings, for
// compact assertions.
func rowErrs(r *Row) []error {
	var out []error
	for _, e := range r.Errors {
		out = append(out, e.Err)
	}
	return out
}

// requireFileErr asserts that err is a *FileError matching sentinel.
func requireFileErr(t testing.TB, err, sentinel error) *FileError {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, sentinel)
	var fe *FileError
	require.True(t, errors.As(err, &fe), "want a *FileError, got %T: %v", err, err)
	return fe
}

// makeXLSX builds a workbook whose sheets hold rows, with excelize's normal
// (non-streaming) API, as a spreadsheet program would save it: shared
// strings and a dimension.
func makeXLSX(t testing.TB, sheets map[string][][]any, order ...string) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if len(order) == 0 {
		for name := range sheets {
			order = append(order, name)
		}
	}
	for i, name := range order {
		if i == 0 {
			require.NoError(t, f.SetSheetName("Sheet1", name))
		} else {
			_, err := f.NewSheet(name)
			require.NoError(t, err)
		}
		for r, row := range sheets[name] {
			if row == nil {
				continue
			}
			cell, err := excelize.CoordinatesToCellName(1, r+1)
			require.NoError(t, err)
			require.NoError(t, f.SetSheetRow(name, cell, &row))
		}
	}
	var buf bytes.Buffer
	require.NoError(t, f.Write(&buf))
	return buf.Bytes()
}

// sheet1 is makeXLSX for a single sheet named Sheet1 of strings.
func sheet1(t testing.TB, rows ...[]string) []byte {
	t.Helper()
	var anyRows [][]any
	for _, r := range rows {
		a := make([]any, len(r))
		for i, v := range r {
			a[i] = v
		}
		anyRows = append(anyRows, a)
	}
	return makeXLSX(t, map[string][][]any{"Sheet1": anyRows})
}

// minimalParts are the parts of the smallest workbook excelize reads: one
// sheet, xl/worksheets/sheet1.xml, whose XML the caller gives.
var minimalParts = map[string]string{
	"[Content_Types].xml": `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>`,
	"_rels/.rels": `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
	"xl/workbook.xml": `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`,
	"xl/_rels/workbook.xml.rels": `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`,
}

// sheetXML wraps rows XML (the content of sheetData) in a worksheet.
func sheetXML(rows string) string {
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` + rows + `</sheetData></worksheet>`
}

// omit, as a part's content for zipParts, leaves the part out.
const omit = "\x00omit"

// zipParts builds a zip archive of the given parts (later maps override
// earlier ones), deflated, in sorted order of name.
func zipParts(t testing.TB, parts map[string]string, extra ...map[string]string) []byte {
	t.Helper()
	all := map[string]string{}
	for k, v := range parts {
		all[k] = v
	}
	for _, m := range extra {
		for k, v := range m {
			all[k] = v
		}
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(all)) {
		if all[name] == omit {
			continue
		}
		w, err := zw.Create(name)
		require.NoError(t, err)
		_, err = io.Copy(w, strings.NewReader(all[name]))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }
