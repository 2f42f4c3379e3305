package bulk

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// ReadOptions configures NewReader and Open. The zero value detects the
// format, reads the first sheet of a workbook and applies the default Limits.
type ReadOptions struct {
	// Format is the file's format. FormatDetect (the zero value) decides from
	// the first bytes (a zip archive is XLSX) and then from Name's extension
	// (.xlsx, .xlsm, .xltx, .xltm must be XLSX; anything else is CSV). A
	// file whose bytes contradict a given format fails with ErrMalformed.
	Format Format
	// Name is the file's name, for detection. Open sets it to its path.
	Name string
	// Sheet names the XLSX sheet to read, matched ignoring case; "" means
	// the first sheet. A name the workbook lacks fails with ErrSheetNotFound.
	Sheet string
	// Size is the input's size in bytes, if known, for Progress and for an
	// early ErrTooLarge. NewReader finds it by itself when the reader has a
	// Size() int64 method (bytes.Reader, strings.Reader, io.SectionReader)
	// or is a regular *os.File.
	Size int64
	// TempDir is where XLSX input read from an io.Reader is copied and where
	// excelize keeps large worksheets; "" means os.TempDir().
	TempDir string
	// Limits bounds the input; zero fields take their defaults.
	Limits Limits
}

// Progress is how far a Reader has got.
type Progress struct {
	// Rows is the number of data rows returned so far (rows with errors
	// included, empty rows not).
	Rows int
	// Bytes is the number of input bytes behind the rows returned so far:
	// for CSV, up to the end of the last record read (for UTF-16, an
	// estimate: twice the UTF-8 bytes); for XLSX, the whole file, which is
	// read before the first row.
	Bytes int64
	// TotalBytes is the input's size in bytes, or 0 when unknown.
	TotalBytes int64
	// EstimatedRows estimates the number of data rows in the file, or is 0
	// when there is no basis for an estimate. For XLSX it comes from the
	// sheet's dimension (its used range, so empty rows count); for CSV from
	// the rows read so far and the share of TotalBytes they took. It is never
	// below Rows, and equals Rows once Done.
	EstimatedRows int
	// Done is true once the reader has reached the end of the file.
	Done bool
}

// source is a stream of records (CSV) or sheet rows (XLSX).
type source interface {
	// read returns the next record's line and raw cells. err is io.EOF at
	// the end, or a *FileError.
	read() (line int, cells []string, err error)
	close() error
}

// Reader reads the rows of a CSV file or XLSX sheet of users, one at a time.
// NewReader and Open read up to the header row; Next returns each data row
// after it. A Reader is not safe for concurrent use, except Progress, which
// another goroutine may call at any time.
type Reader struct {
	format     Format
	src        source
	closer     io.Closer // the file Open opened, or nil
	h          *header
	headerLine int
	limits     Limits
	sheet      string
	comma      rune
	err        error // sticky: a FileError or io.EOF

	// For Progress.
	rows       atomic.Int64
	done       atomic.Bool
	csv        *csvSource // the CSV source, or nil: for Progress
	totalBytes int64
	lastRow    int // XLSX dimension's last row, or 0
}

// NewReader starts reading users from r: it detects the format (see
// ReadOptions.Format), checks the encoding or the workbook, and reads up to
// the header row. Its errors are *FileError values matching one of the
// file-level sentinels (ErrMalformed, ErrEncoding, ErrTooLarge, ErrEmpty,
// ErrNoEmailColumn, ErrDuplicateColumn, ErrSheetNotFound, ErrRead), or ctx's
// error.
//
// CSV is streamed from r. XLSX is copied to a temporary file first (at most
// Limits.MaxBytes), because a zip archive is read from its end. Close the
// Reader to remove temporary files.
func NewReader(ctx context.Context, r io.Reader, opts ReadOptions) (*Reader, error) {
	if opts.Size <= 0 {
		opts.Size = sizeOf(r)
	}
	return newReader(ctx, r, "", opts)
}

// Open starts reading users from the file at path, as NewReader does;
// opts.Name defaults to path. An XLSX file is read in place, without a
// temporary copy.
func Open(ctx context.Context, path string, opts ReadOptions) (*Reader, error) {
	if opts.Name == "" {
		opts.Name = path
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &FileError{Err: ErrRead, Detail: openProblem(err), Cause: err}
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, &FileError{Err: ErrRead, Detail: openProblem(err), Cause: err}
	}
	if st.IsDir() {
		_ = f.Close()
		return nil, &FileError{Err: ErrRead, Detail: "it is a directory"}
	}
	place := ""
	if st.Mode().IsRegular() {
		opts.Size, place = st.Size(), path
	}
	rd, err := newReader(ctx, f, place, opts)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	rd.closer = f
	return rd, nil
}

// openProblem words the common reasons a path cannot be opened, for
// FileError.Detail: the admin chose the path, so saying it is missing or
// unreadable tells them nothing they may not know. Other causes stay in
// FileError.Cause only.
func openProblem(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	return ""
}

// newReader is NewReader; path, when not "", is a regular file holding the
// same bytes as r, which XLSX reads in place.
func newReader(ctx context.Context, r io.Reader, path string, opts ReadOptions) (rd *Reader, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l := opts.Limits.withDefaults()
	rd = &Reader{limits: l, totalBytes: max(opts.Size, 0)}
	defer func() {
		if err != nil {
			_ = rd.Close()
			rd = nil
		}
	}()
	if opts.Size > l.MaxBytes {
		return rd, tooLarge(l)
	}
	br := bufio.NewReaderSize(&boundedReader{r: r, limit: l.MaxBytes, err: errInputTooLarge}, 64<<10)
	head, perr := br.Peek(8)
	if perr != nil && len(head) < 8 && !errors.Is(perr, io.EOF) {
		return rd, inputError(perr, l)
	}
	rd.format, err = detectFormat(head, opts.Name, opts.Format)
	if err != nil {
		return rd, err
	}
	switch rd.format {
	case FormatCSV:
		cs, err := newCSVSource(br, l)
		if err != nil {
			return rd, err
		}
		rd.src, rd.csv, rd.comma = cs, cs, cs.comma
	case FormatXLSX:
		tmp := ""
		if path == "" {
			if tmp, err = spool(br, opts.TempDir, l); err != nil {
				return rd, err
			}
			path = tmp
		}
		xs, err := openXLSX(ctx, path, tmp, opts.Sheet, opts.TempDir, l)
		if err != nil {
			return rd, err
		}
		rd.src, rd.sheet, rd.lastRow = xs, xs.sheet, xs.lastRow
		if st, err := os.Stat(path); err == nil {
			rd.totalBytes = st.Size()
		}
	}
	if err := rd.readHeader(ctx); err != nil {
		return rd, err
	}
	return rd, nil
}

// sizeOf finds the size of r when it tells it.
func sizeOf(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Size() int64 }:
		return v.Size()
	case *os.File:
		if st, err := v.Stat(); err == nil && st.Mode().IsRegular() {
			return st.Size()
		}
	}
	return 0
}

// spool copies r to a temporary file, at most l.MaxBytes, and returns its name.
func spool(r io.Reader, dir string, l Limits) (string, error) {
	f, err := os.CreateTemp(dir, "usermgmt-bulk-*.xlsx")
	if err != nil {
		return "", &FileError{Err: ErrRead, Cause: err, Detail: "cannot make a temporary file"}
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", inputError(err, l)
	}
	return f.Name(), nil
}

// inputError turns an error reading the input into a FileError.
func inputError(err error, l Limits) error {
	if errors.Is(err, errInputTooLarge) {
		return tooLarge(l)
	}
	return &FileError{Err: ErrRead, Cause: err}
}

func tooLarge(l Limits) error {
	return &FileError{Err: ErrTooLarge, Detail: fmt.Sprintf("the file is larger than %d bytes", l.MaxBytes)}
}

// asFileError returns err when it is a *FileError or a context error, and
// wraps it in a FileError matching sentinel otherwise.
func asFileError(err error, sentinel error) error {
	var fe *FileError
	if errors.As(err, &fe) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &FileError{Err: sentinel, Cause: err}
}

// readHeader reads up to the first non-empty row and parses it as the header.
func (rd *Reader) readHeader(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		line, cells, err := rd.src.read()
		if err == io.EOF {
			return &FileError{Err: ErrEmpty, Detail: "there is no header row"}
		}
		if err != nil {
			return err
		}
		empty := true
		for _, c := range cells {
			if !utf8.ValidString(c) {
				return &FileError{Err: ErrEncoding, Line: line, Detail: "the header row is not UTF-8 text; save the file as CSV UTF-8"}
			}
			if !isBlank(c) {
				empty = false
			}
		}
		if empty {
			continue
		}
		h, err := parseHeader(cells, line)
		if err != nil {
			return err
		}
		rd.h, rd.headerLine = h, line
		return nil
	}
}

// Next returns the next data row, skipping empty rows. It returns io.EOF
// after the last row, ctx's error if ctx is done (reading may go on with
// another context), and a *FileError when the file cannot be read further
// (ErrTooLarge, ErrTooManyRows, ErrMalformed, ErrRead); after io.EOF or a
// FileError it returns the same error again. Problems of the row itself are
// in Row.Errors, not in the error.
func (rd *Reader) Next(ctx context.Context) (*Row, error) {
	if rd.err != nil {
		return nil, rd.err
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		line, cells, err := rd.src.read()
		if err != nil {
			if err == io.EOF {
				rd.done.Store(true)
			}
			rd.err = err
			return nil, err
		}
		row := buildRow(rd.h, line, cells, rd.format == FormatCSV, rd.format == FormatXLSX, rd.limits.MaxCellBytes)
		if row == nil {
			continue
		}
		if rd.rows.Load() >= int64(rd.limits.MaxRows) {
			rd.err = &FileError{Err: ErrTooManyRows, Line: line,
				Detail: fmt.Sprintf("there are more than %d data rows", rd.limits.MaxRows)}
			return nil, rd.err
		}
		rd.rows.Add(1)
		return row, nil
	}
}

// All returns an iterator over the remaining rows, for use with range:
//
//	for row, err := range rd.All(ctx) { ... }
//
// It yields each row with a nil error; if reading stops on an error other
// than io.EOF, it yields that error with a nil row, last.
func (rd *Reader) All(ctx context.Context) iter.Seq2[*Row, error] {
	return func(yield func(*Row, error) bool) {
		for {
			row, err := rd.Next(ctx)
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(row, nil) {
				return
			}
		}
	}
}

// Format returns the file's format, FormatCSV or FormatXLSX.
func (rd *Reader) Format() Format { return rd.format }

// Columns returns the header row's columns, in file order, recognised or
// not. Row.Cells is aligned with it.
func (rd *Reader) Columns() []Column { return append([]Column(nil), rd.h.cols...) }

// Unknown returns the columns whose header the reader does not recognise,
// in file order, with their header text and position. Their cells are in
// Row.Cells but fill no typed field. Reading them is no error.
func (rd *Reader) Unknown() []Column { return rd.h.unknown() }

// Has reports whether the file has a column for field f.
func (rd *Reader) Has(f Field) bool {
	return f > FieldUnknown && f < numFields && rd.h.at[f] >= 0
}

// HeaderLine returns the 1-based line (CSV) or sheet row (XLSX) of the
// header row.
func (rd *Reader) HeaderLine() int { return rd.headerLine }

// Sheet returns the name of the XLSX sheet being read, or "" for CSV.
func (rd *Reader) Sheet() string { return rd.sheet }

// Delimiter returns the CSV delimiter in use (',', ';' or '\t'; '|' too
// after a "sep=|" line), or 0 for XLSX.
func (rd *Reader) Delimiter() rune { return rd.comma }

// Progress reports how far reading has got. It is safe to call from another
// goroutine while Next runs.
func (rd *Reader) Progress() Progress {
	p := Progress{Rows: int(rd.rows.Load()), TotalBytes: rd.totalBytes, Done: rd.done.Load()}
	if rd.csv != nil {
		p.Bytes = rd.csv.consumed.Load()
		if p.TotalBytes > 0 {
			p.Bytes = min(p.Bytes, p.TotalBytes)
		}
	} else {
		p.Bytes = rd.totalBytes
	}
	switch {
	case p.Done:
		p.EstimatedRows = p.Rows
	case rd.format == FormatXLSX && rd.lastRow > rd.headerLine:
		p.EstimatedRows = rd.lastRow - rd.headerLine
	case rd.format == FormatCSV && p.TotalBytes > 0 && p.Bytes > 0 && p.Rows > 0:
		p.EstimatedRows = int(float64(p.Rows) * float64(p.TotalBytes) / float64(p.Bytes))
	}
	p.EstimatedRows = max(p.EstimatedRows, p.Rows)
	return p
}

// Close releases what the Reader holds: temporary files, excelize's
// resources, the file Open opened. It is safe to call more than once.
func (rd *Reader) Close() error {
	var errs []error
	if rd.src != nil {
		errs = append(errs, rd.src.close())
		rd.src = nil
	}
	if rd.closer != nil {
		errs = append(errs, rd.closer.Close())
		rd.closer = nil
	}
	if rd.err == nil {
		rd.err = errClosed
	}
	return errors.Join(errs...)
}

// errClosed is what Next returns after Close.
var errClosed = &FileError{Err: ErrRead, Detail: "the reader is closed"}

// isBlank reports whether s is empty once trimmed of spaces.
func isBlank(s string) bool { return strings.TrimSpace(s) == "" }
