package bulk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/xuri/excelize/v2"
)

// xlsxSource reads the rows of one sheet of an XLSX workbook through
// excelize's streaming Rows iterator: the sheet is never loaded whole.
type xlsxSource struct {
	f     *excelize.File
	rows  *excelize.Rows
	sheet string
	row   int // the sheet row number of the last row read
	// lastRow is the last row of the sheet's dimension (its used range), or
	// 0 when the sheet does not say.
	lastRow int
	// tmp is a temporary copy of the input to remove on close, or "".
	tmp string
}

// openXLSX checks the workbook at path (see prescan), opens it with excelize
// and starts streaming the rows of the sheet named sheet (the first sheet
// when sheet is ""). tmp names a temporary file for close to remove.
func openXLSX(ctx context.Context, path, tmp, sheet, tmpDir string, l Limits) (src *xlsxSource, err error) {
	src = &xlsxSource{tmp: tmp}
	defer func() {
		if err != nil {
			_ = src.close()
			src = nil
		}
	}()
	file, err := os.Open(path)
	if err != nil {
		return src, &FileError{Err: ErrRead, Cause: err}
	}
	st, err := file.Stat()
	if err == nil {
		err = prescan(ctx, file, st.Size(), l)
	}
	_ = file.Close()
	if err != nil {
		return src, asFileError(err, ErrRead)
	}
	err = catchPanic(func() error {
		src.f, err = excelize.OpenFile(path, excelize.Options{
			UnzipSizeLimit:    l.MaxUnzippedBytes,
			UnzipXMLSizeLimit: min(xmlInMemory, l.MaxUnzippedBytes),
			TmpDir:            tmpDir,
		})
		return err
	})
	if err != nil {
		return src, &FileError{Err: ErrMalformed, Cause: err, Detail: "excelize cannot open the workbook"}
	}
	list := src.f.GetSheetList()
	if len(list) == 0 {
		return src, &FileError{Err: ErrMalformed, Detail: "the workbook lists no sheets"}
	}
	src.sheet = list[0]
	if sheet != "" {
		src.sheet = ""
		for _, name := range list {
			if strings.EqualFold(name, sheet) {
				src.sheet = name
				break
			}
		}
		if src.sheet == "" {
			return src, &FileError{Err: ErrSheetNotFound, Detail: fmt.Sprintf(
				"no sheet is named %q; the workbook's sheets are %s", clip(sheet, 64), quoteList(list, 20))}
		}
	}
	err = catchPanic(func() error {
		if dim, err := src.f.GetSheetDimension(src.sheet); err == nil {
			src.lastRow = dimensionLastRow(dim)
		}
		src.rows, err = src.f.Rows(src.sheet)
		return err
	})
	if err != nil {
		return src, &FileError{Err: ErrMalformed, Cause: err, Detail: "excelize cannot read the sheet"}
	}
	return src, nil
}

// dimensionLastRow reads the last row number of a dimension reference such
// as "A1:K100001" (or "B2"), or 0.
func dimensionLastRow(ref string) int {
	if i := strings.LastIndexByte(ref, ':'); i >= 0 {
		ref = ref[i+1:]
	}
	_, row, err := excelize.CellNameToCoordinates(ref)
	if err != nil {
		return 0
	}
	return row
}

// read returns the next sheet row: its number and its cells as displayed
// (number formats applied), trailing empty cells left out. Empty rows come
// back with no cells.
func (s *xlsxSource) read() (int, []string, error) {
	var cells []string
	var more bool
	err := catchPanic(func() error {
		more = s.rows.Next()
		if !more {
			return s.rows.Error()
		}
		var err error
		cells, err = s.rows.Columns()
		return err
	})
	if err != nil {
		return 0, nil, &FileError{Err: ErrMalformed, Line: s.row + 1, Cause: err, Detail: "excelize cannot read the row"}
	}
	if !more {
		return 0, nil, io.EOF
	}
	s.row++
	return s.row, cells, nil
}

func (s *xlsxSource) close() error {
	var errs []error
	if s.rows != nil {
		errs = append(errs, s.rows.Close())
		s.rows = nil
	}
	if s.f != nil {
		errs = append(errs, s.f.Close())
		s.f = nil
	}
	if s.tmp != "" {
		if err := os.Remove(s.tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		s.tmp = ""
	}
	return errors.Join(errs...)
}

// panicError is a panic inside excelize, turned into an error: a hostile
// workbook must not bring down the program that reads it.
type panicError struct{ value any }

func (p *panicError) Error() string { return fmt.Sprintf("excelize panicked: %v", p.value) }

// catchPanic runs fn and returns its error, or a *panicError if it panics.
func catchPanic(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v}
		}
	}()
	return fn()
}
