package bulk

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/unicode"
)

// fuzzLimits are small bounds, so that fuzzing reaches them.
var fuzzLimits = Limits{MaxBytes: 1 << 20, MaxRows: 200, MaxCellBytes: 64, MaxRecordBytes: 4 << 10, MaxUnzippedBytes: 8 << 20}

var (
	fileSentinels = []error{ErrMalformed, ErrEncoding, ErrTooLarge, ErrTooManyRows, ErrEmpty,
		ErrNoEmailColumn, ErrDuplicateColumn, ErrSheetNotFound}
	rowSentinels = []error{ErrRaggedRow, ErrCellTooLong, ErrInvalidUTF8, ErrNULByte, ErrInvalidBoolean, ErrEmptyEmail}
)

// checkRead reads input to the end and checks what a Reader promises:
// every error typed, rows in order and aligned with the header, rows
// without errors clean.
func checkRead(t *testing.T, input []byte, opts ReadOptions) {
	t.Helper()
	checkErr := func(err error) {
		t.Helper()
		var fe *FileError
		if !errors.As(err, &fe) {
			t.Fatalf("error %v (%T) is not a *FileError", err, err)
		}
		var pe *panicError
		if errors.As(err, &pe) {
			t.Fatalf("excelize panicked: %v", pe.value)
		}
		for _, s := range fileSentinels {
			if fe.Err == s {
				return
			}
		}
		t.Fatalf("file error %v matches no file-level sentinel", err)
	}
	ctx := context.Background()
	rd, err := NewReader(ctx, bytes.NewReader(input), opts)
	if err != nil {
		checkErr(err)
		return
	}
	defer func() {
		if err := rd.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}()
	cols := rd.Columns()
	if len(cols) == 0 || !rd.Has(FieldEmail) {
		t.Fatalf("a header without an email column was accepted: %v", cols)
	}
	last, n := rd.HeaderLine(), 0
	for {
		row, err := rd.Next(ctx)
		if err == io.EOF {
			if p := rd.Progress(); !p.Done || p.Rows != n || p.EstimatedRows != n {
				t.Fatalf("progress at the end: %+v, %d rows", p, n)
			}
			return
		}
		if err != nil {
			checkErr(err)
			return
		}
		n++
		if n > opts.Limits.MaxRows {
			t.Fatalf("%d rows, over the bound", n)
		}
		if row.Line <= last {
			t.Fatalf("row line %d after %d", row.Line, last)
		}
		last = row.Line
		if len(row.Cells) != len(cols) {
			t.Fatalf("%d cells for %d columns", len(row.Cells), len(cols))
		}
		for _, e := range row.Errors {
			if e.Line != row.Line || e.Column < 0 || e.Column > len(cols) {
				t.Fatalf("row error %+v of row %d", e, row.Line)
			}
			found := false
			for _, s := range rowSentinels {
				found = found || e.Err == s
			}
			if !found {
				t.Fatalf("row error %v matches no row-level sentinel", e)
			}
		}
		for i, c := range row.Cells {
			if !cols[i].Field.used() {
				continue
			}
			if !utf8.ValidString(c) || strings.IndexByte(c, 0) >= 0 || len(c) > opts.Limits.MaxCellBytes {
				t.Fatalf("cell %d of row %d passed unchecked: %q", i+1, row.Line, c)
			}
		}
		if row.OK() && row.Email == "" {
			t.Fatalf("row %d has no email and no error", row.Line)
		}
	}
}

func FuzzReadCSV(f *testing.F) {
	utf16 := func(enc unicode.Endianness, s string) []byte {
		b, err := unicode.UTF16(enc, unicode.UseBOM).NewEncoder().Bytes([]byte(s))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	for _, s := range []string{
		"Email,First Name,Last Name\na@x.io,Ann,Lee\n",
		"\xEF\xBB\xBFEmail;Vorname;Nachname;Aktiv\r\nb@x.io;Bär;Müller;ja\r\nc@x.io;C;D;yes\r\n",
		"sep=;\r\nE-mail;Groups\r\na@x.io;\"g1,g2\"\r\n",
		"Email\tGiven name\tSurname\tActive\na@x.io\tA\tB\t1\n",
		"\"Email\",\"Notes\"\n\"a@x.io\",\"line one\nline two\"\n\"b@x.io\",\"say \"\"hi\"\"\"\n",
		"Email,Name\na@x.io\nb@x.io,B,extra\n,\n\n",
		"Email,Name\na@x.io,N\x00L\nb@x.io,\xff\xfe\n",
		"Email,Active,Password hash,Locale,Dept,Account ID\na@x.io,maybe,$argon2id$v=19$m=1,en,D,7\n",
		"Email,Email\n",
		"Name,Phone\nx,y\n",
		"Email,Last\na@x.io,\"unclosed\nb@x.io,x\n",
		"Email,First\n'-a@x.io,'=cmd\n",
		"",
		"\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Add(utf16(unicode.LittleEndian, "Email\tFirst Name\r\nzoë@x.io\tZoë\r\n"))
	f.Add(utf16(unicode.BigEndian, "Email\tFirst Name\r\nzoë@x.io\tZoë\r\n"))
	f.Add([]byte("E\x00m\x00a\x00i\x00l\x00\n\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRead(t, data, ReadOptions{Format: FormatCSV, Limits: fuzzLimits})
	})
}

// fuzzWorkbook stores minimalParts with the given worksheet and shared
// strings (left out when empty), uncompressed.
func fuzzWorkbook(sheet, sst []byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, content []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err == nil {
			_, _ = w.Write(content)
		}
	}
	for _, name := range []string{"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels"} {
		add(name, []byte(minimalParts[name]))
	}
	add("xl/worksheets/sheet1.xml", sheet)
	if len(sst) > 0 {
		add("xl/sharedStrings.xml", sst)
	}
	_ = zw.Close()
	return buf.Bytes()
}

// FuzzReadXLSX reads each input twice: data as a whole file (seeded with
// real workbooks), and a workbook made of sheet and sst as its worksheet
// and shared-string XML, so that mutations reach excelize's XML reading
// rather than break the zip's checksums.
func FuzzReadXLSX(f *testing.F) {
	sst := `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="3" uniqueCount="3"><si><t>Email</t></si><si><t xml:space="preserve"> a@x.io </t></si><si><r><t>Rich</t></r><r><t>Text</t></r></si></sst>`
	sheets := []string{
		sheetXML(`<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="inlineStr"><is><t>Active</t></is></c></row><row r="3"><c r="A3" t="s"><v>1</v></c><c r="B3" t="b"><v>1</v></c><c r="C3" t="s"><v>2</v></c></row>`),
		sheetXML(`<row><c t="inlineStr"><is><t>Email</t></is></c><c t="inlineStr"><is><t>Created</t></is></c></row><row><c t="str"><f>"a"&amp;"@x.io"</f><v>a@x.io</v></c><c s="1"><v>45413</v></c></row>`),
		strings.Replace(sheetXML(`<row r="2" spans="1:2"><c r="A2" t="inlineStr"><is><t>E-mail</t></is></c></row><row r="5"><c r="A5" t="e"><v>#N/A</v></c><c r="XFD5"><v>1</v></c></row>`), "<sheetData>", `<dimension ref="A2:B9"/><sheetData>`, 1),
		sheetXML(`<row r="1"><c t="inlineStr"><is><t>Email</t></is></c></row><row r="2"><c t="inlineStr"><is><t><![CDATA[x<y@x.io]]></t></is></c></row><!-- c --><row r="4"><c t="d"><v>2024-05-01T00:00:00Z</v></c></row>`),
	}
	for i, s := range sheets {
		f.Add([]byte(nil), []byte(s), []byte(sst))
		if i == 0 {
			f.Add(fuzzWorkbook([]byte(s), []byte(sst)), []byte(nil), []byte(nil))
		}
	}
	// Real workbooks: excelize's normal writer, and the export.
	f.Add(sheet1(f, []string{"Email", "First Name", "Active"}, []string{"a@x.io", "Ann", "yes"}, []string{"b@x.io", "-Bob", "no"}), []byte(nil), []byte(nil))
	var exp bytes.Buffer
	w, err := NewWriter(&exp, FormatXLSX, WriteOptions{})
	if err != nil {
		f.Fatal(err)
	}
	for _, r := range exportRecords {
		if err := w.Write(r); err != nil {
			f.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	f.Add(exp.Bytes(), []byte(nil), []byte(nil))

	f.Fuzz(func(t *testing.T, data, sheet, sst []byte) {
		opts := ReadOptions{Format: FormatXLSX, Limits: fuzzLimits}
		if len(data) > 0 {
			checkRead(t, data, opts)
		}
		if len(sheet) > 0 {
			checkRead(t, fuzzWorkbook(sheet, sst), opts)
		}
	})
}
