package bulk

import (
	"archive/zip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// ExportFields are the columns the Writer writes, in order. Their headers
// are the fields' canonical names (Field.String), which the reader
// recognises; Status, Created and Last Login are informational (see
// Field.Informational): re-importing an export reads them without complaint
// and applies nothing from them.
var ExportFields = []Field{
	FieldEmail, FieldFirstName, FieldLastName, FieldRole, FieldAccount, FieldDepartment,
	FieldGroups, FieldActive, FieldStatus, FieldCreated, FieldLastLogin,
}

// Record is one user as the Writer writes it.
type Record struct {
	Email      string
	FirstName  string
	LastName   string
	Role       string
	Account    string // the account's name or ID, as the reader's Account column takes it
	Department string
	Groups     []string // written joined by "; "; a name holding ';' or ',' reads back split
	Active     bool     // written "yes" or "no"
	Status     string   // the user's status, for people to read
	Created    time.Time
	LastLogin  time.Time // the zero time is written as an empty cell
}

// TimeLayout is how the Writer writes Created and Last Login: RFC 3339 in
// UTC, to the second ("2024-05-01T09:30:00Z").
const TimeLayout = "2006-01-02T15:04:05Z07:00"

// WriteOptions configures NewWriter. The zero value is ready to use.
type WriteOptions struct {
	// Sheet is the XLSX sheet's name; "" means "Users".
	Sheet string
	// BOM starts CSV output with a UTF-8 byte-order mark, which makes Excel
	// read the file as UTF-8 rather than in the system's legacy encoding.
	// The reader accepts CSV with or without it.
	BOM bool
	// TempDir is where excelize keeps a large sheet while it is written;
	// "" means os.TempDir().
	TempDir string
}

// Writer streams users to CSV or XLSX: a header row, then one row per Write.
// Every cell goes through Neutralise, so that no cell can be taken for a
// formula; XLSX cells are all string cells. Close finishes the file; for XLSX
// nothing reaches the io.Writer before Close. A Writer is not safe for
// concurrent use.
type Writer struct {
	format Format
	out    io.Writer
	cw     *csv.Writer
	xf     *excelize.File
	sw     *excelize.StreamWriter
	row    int // the last sheet row written
	err    error
	cells  []any
}

// NewWriter starts writing users to w in format (FormatCSV or FormatXLSX)
// and writes the header row. CSV is UTF-8, comma separated, with "\n" line
// ends (which spreadsheet programs read as well as "\r\n"), quoted where
// needed (encoding/csv). An error comes from w, from
// excelize (an invalid sheet name), or reports an unsupported format.
func NewWriter(w io.Writer, format Format, opts WriteOptions) (*Writer, error) {
	wr := &Writer{format: format, out: w}
	header := make([]string, len(ExportFields))
	for i, f := range ExportFields {
		header[i] = f.String()
	}
	switch format {
	case FormatCSV:
		if opts.BOM {
			if _, err := io.WriteString(w, "\uFEFF"); err != nil {
				return nil, err
			}
		}
		wr.cw = csv.NewWriter(w)
		if err := wr.cw.Write(header); err != nil {
			return nil, err
		}
	case FormatXLSX:
		if err := wr.startXLSX(opts, header); err != nil {
			_ = wr.xf.Close()
			return nil, err
		}
	default:
		return nil, fmt.Errorf("bulk: cannot write format %v", format)
	}
	return wr, nil
}

// startXLSX makes the workbook and its stream writer and writes the header.
func (wr *Writer) startXLSX(opts WriteOptions, header []string) error {
	wr.xf = excelize.NewFile(excelize.Options{TmpDir: opts.TempDir})
	sheet := opts.Sheet
	if sheet == "" {
		sheet = "Users"
	}
	if err := wr.xf.SetSheetName(wr.xf.GetSheetName(0), sheet); err != nil {
		return err
	}
	sw, err := wr.xf.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	wr.sw = sw
	bold, err := wr.xf.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	for i, f := range ExportFields {
		width := 16.0
		switch f {
		case FieldEmail:
			width = 32
		case FieldGroups, FieldCreated, FieldLastLogin:
			width = 22
		case FieldActive:
			width = 8
		}
		if err := sw.SetColWidth(i+1, i+1, width); err != nil {
			return err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	cells := make([]any, len(header))
	for i, h := range header {
		cells[i] = excelize.Cell{StyleID: bold, Value: h}
	}
	wr.row = 1
	return sw.SetRow("A1", cells)
}

// Write writes one user as a row. After an error the Writer is unusable and
// returns that error again.
func (wr *Writer) Write(rec Record) error {
	if wr.err != nil {
		return wr.err
	}
	active := "no"
	if rec.Active {
		active = "yes"
	}
	values := [...]string{
		rec.Email, rec.FirstName, rec.LastName, rec.Role, rec.Account, rec.Department,
		strings.Join(rec.Groups, "; "), active, rec.Status,
		formatTime(rec.Created), formatTime(rec.LastLogin),
	}
	for i := range values {
		values[i] = Neutralise(values[i])
	}
	switch wr.format {
	case FormatCSV:
		wr.err = wr.cw.Write(values[:])
	case FormatXLSX:
		if wr.cells == nil {
			wr.cells = make([]any, len(values))
		}
		for i, v := range values {
			// A plain string value makes an inline string cell: never a formula.
			wr.cells[i] = v
		}
		wr.row++
		cell, err := excelize.CoordinatesToCellName(1, wr.row)
		if err == nil {
			err = wr.sw.SetRow(cell, wr.cells)
		}
		wr.err = err
	}
	return wr.err
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Truncate(time.Second).Format(TimeLayout)
}

// errAborted is what Write returns after Abort.
var errAborted = errors.New("bulk: writer aborted")

// Abort ends the file unfinished, after an error elsewhere: for XLSX
// nothing is written to the io.Writer, for CSV the rows written so far are
// flushed as they are (a truncated file the caller must discard). It
// releases excelize's temporary files; Close after it does nothing.
func (wr *Writer) Abort() {
	if wr.err == nil {
		wr.err = errAborted
	}
	_ = wr.Close()
}

// errWriterClosed is what Write returns after Close.
var errWriterClosed = errors.New("bulk: writer closed")

// Close finishes the file: it flushes CSV, or writes the whole XLSX workbook
// to the io.Writer (streaming the sheet from excelize's buffer or temporary
// file) and releases excelize's temporary files. It does not close the
// io.Writer. It returns the first error of the Writer's life.
func (wr *Writer) Close() error {
	if errors.Is(wr.err, errWriterClosed) {
		return nil
	}
	err := wr.err
	switch wr.format {
	case FormatCSV:
		wr.cw.Flush()
		if err == nil {
			err = wr.cw.Error()
		}
	case FormatXLSX:
		if err == nil {
			err = wr.sw.Flush()
		}
		if err == nil {
			// excelize assembles the zip in a bytes.Buffer it hands to its
			// ZipWriter; a ZipWriter over out streams it there instead.
			wr.xf.SetZipWriter(func(io.Writer) excelize.ZipWriter { return zip.NewWriter(wr.out) })
			_, err = wr.xf.WriteTo(wr.out)
		}
		if cerr := wr.xf.Close(); err == nil {
			err = cerr
		}
	}
	wr.err = errWriterClosed
	return err
}
