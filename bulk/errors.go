package bulk

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// File-level errors. NewReader, Open and Reader.Next return them wrapped in a
// *FileError; match them with errors.Is. After a file-level error the Reader
// returns no more rows. Their messages, and those of the FileError that wraps
// them, are fit to show an admin: they name lines, columns and headers, never
// cell values or the text of lower-level errors (that stays reachable through
// errors.As and FileError.Cause).
var (
	// ErrMalformed reports a file that is not a readable CSV or XLSX file:
	// not a zip, a workbook missing required parts, a legacy .xls or an
	// encrypted workbook, a sheet whose XML excelize cannot read.
	ErrMalformed = errors.New("bulk: not a valid CSV or XLSX file")
	// ErrEncoding reports CSV text in an encoding other than UTF-8 or UTF-16
	// with a byte-order mark (a header line that is not UTF-8, UTF-16 without
	// a byte-order mark, a UTF-16 stream cut in the middle of a character).
	ErrEncoding = errors.New("bulk: the file's text encoding is not UTF-8 or UTF-16 with a byte-order mark")
	// ErrTooLarge reports input over a size bound of Limits: the file's bytes,
	// one CSV record, one XLSX row or XML token, or the workbook's
	// uncompressed parts.
	ErrTooLarge = errors.New("bulk: the file is too large")
	// ErrTooManyRows reports more data rows than Limits.MaxRows.
	ErrTooManyRows = errors.New("bulk: the file has too many rows")
	// ErrEmpty reports a file with no header row (no non-empty row at all).
	ErrEmpty = errors.New("bulk: the file is empty")
	// ErrNoEmailColumn reports a header row without an email column. The
	// FileError lists the headers that were found.
	ErrNoEmailColumn = errors.New("bulk: the header row has no email column")
	// ErrDuplicateColumn reports two header cells that mean the same field
	// (two email columns, say). The FileError names both.
	ErrDuplicateColumn = errors.New("bulk: two columns mean the same field")
	// ErrSheetNotFound reports a ReadOptions.Sheet the workbook does not have.
	// The FileError lists the sheets it has.
	ErrSheetNotFound = errors.New("bulk: the workbook has no such sheet")
	// ErrRead reports a failure of the underlying reader or of a temporary
	// file; the cause is reachable through FileError.Cause.
	ErrRead = errors.New("bulk: the file could not be read")
)

// Row-level errors. They appear in Row.Errors wrapped in a *RowError; match
// them with errors.Is. A row with errors is still returned, and reading goes
// on with the next row.
var (
	// ErrRaggedRow reports a CSV record with more or fewer fields than the
	// header, or an XLSX row with a value right of the last header column.
	ErrRaggedRow = errors.New("bulk: the row does not match the header's columns")
	// ErrCellTooLong reports a cell longer than Limits.MaxCellBytes.
	ErrCellTooLong = errors.New("bulk: the cell is too long")
	// ErrInvalidUTF8 reports a cell that is not valid UTF-8: typically a CSV
	// file saved in a legacy encoding whose header happens to be ASCII.
	ErrInvalidUTF8 = errors.New("bulk: the cell is not UTF-8 text (save the file as CSV UTF-8)")
	// ErrNULByte reports a cell holding a NUL byte.
	ErrNULByte = errors.New("bulk: the cell holds a NUL byte")
	// ErrInvalidBoolean reports an Active cell that is not one of yes, no,
	// true, false, y, n, 1, 0 (in any case) or empty.
	ErrInvalidBoolean = errors.New("bulk: the cell is not yes or no")
	// ErrEmptyEmail reports a row whose email cell is empty.
	ErrEmptyEmail = errors.New("bulk: the email cell is empty")
)

// FileError is a file-level error: the file as a whole cannot be read (further).
type FileError struct {
	// Err is the sentinel the error matches: ErrMalformed, ErrEncoding,
	// ErrTooLarge, ErrTooManyRows, ErrEmpty, ErrNoEmailColumn,
	// ErrDuplicateColumn, ErrSheetNotFound or ErrRead.
	Err error
	// Line is the 1-based line (CSV) or sheet row (XLSX) the problem was
	// found at, or 0 when it concerns the whole file.
	Line int
	// Detail says more, fit for display: the headers found, the bound that
	// was passed. It may be empty.
	Detail string
	// Cause is the lower-level error, if any (a zip or XML error, an I/O
	// error). It is not part of the message; errors.Is and errors.As reach it.
	Cause error
}

// Error formats the sentinel's message, the line and the detail.
func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	if e.Line > 0 {
		fmt.Fprintf(&b, " (at line %d)", e.Line)
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Unwrap returns the sentinel and, when there is one, the cause.
func (e *FileError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

// RowError is one problem of one row, found while reading it.
type RowError struct {
	// Line is the row's 1-based line (CSV: the line its record starts on) or
	// sheet row number (XLSX).
	Line int
	// Column is the 1-based column of the cell, or 0 when the problem is the
	// whole row's (ErrRaggedRow).
	Column int
	// Header is the column's header text as written in the file ("" when
	// Column is 0).
	Header string
	// Field is the field the column was recognised as (FieldUnknown when
	// Column is 0).
	Field Field
	// Err is the sentinel the error matches: ErrRaggedRow, ErrCellTooLong, ErrInvalidUTF8, ErrNULByte, ErrInvalidBoolean or
	// ErrEmptyEmail.
	Err error
	// Sheet is true when the row comes from an XLSX sheet: the message then
	// says "row" and names the column by its letter.
	Sheet bool
}

// Error formats where the problem is and what it is, for instance
// `line 7, column 3 "Active": bulk: the cell is not yes or no`.
func (e *RowError) Error() string {
	var b strings.Builder
	if e.Sheet {
		fmt.Fprintf(&b, "row %d", e.Line)
	} else {
		fmt.Fprintf(&b, "line %d", e.Line)
	}
	if e.Column > 0 {
		if e.Sheet {
			fmt.Fprintf(&b, ", column %s", columnLetters(e.Column))
		} else {
			fmt.Fprintf(&b, ", column %d", e.Column)
		}
		fmt.Fprintf(&b, " %q", e.Header)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the sentinel.
func (e *RowError) Unwrap() error { return e.Err }

// columnLetters turns a 1-based column number into its spreadsheet letters
// (1 → A, 27 → AA).
func columnLetters(n int) string {
	var buf [8]byte
	i := len(buf)
	for n > 0 && i > 0 {
		n--
		i--
		buf[i] = byte('A' + n%26)
		n /= 26
	}
	return string(buf[i:])
}

// quoteList formats header texts for a FileError's detail: each quoted,
// comma-separated, at most max of them (then "and N more").
func quoteList(items []string, max int) string {
	var b strings.Builder
	for i, s := range items {
		if i == max {
			fmt.Fprintf(&b, " and %d more", len(items)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", clip(s, 64))
	}
	return b.String()
}

// clip shortens s to at most n bytes, cutting on a rune boundary and marking
// the cut with an ellipsis.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
