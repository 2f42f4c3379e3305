package bulk

import (
	"bytes"
	"path/filepath"
	"strings"
)

// Format is a file format the package reads and writes.
type Format int

// The formats. FormatDetect is the zero value: the reader decides from the
// file's first bytes and, failing that, its name (see ReadOptions.Format).
const (
	FormatDetect Format = iota // decide from the first bytes, then the file name
	FormatCSV                  // comma-, semicolon- or tab-separated text
	FormatXLSX                 // an Office Open XML workbook (.xlsx, .xlsm)
)

// String returns "detect", "csv" or "xlsx".
func (f Format) String() string {
	switch f {
	case FormatCSV:
		return "csv"
	case FormatXLSX:
		return "xlsx"
	case FormatDetect:
		return "detect"
	}
	return "unknown"
}

var (
	zipMagic      = []byte("PK\x03\x04")
	emptyZipMagic = []byte("PK\x05\x06")
	// oleMagic starts a Compound File: a legacy .xls workbook, or an
	// encrypted (password-protected) .xlsx.
	oleMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
)

// detectFormat decides the format from the first bytes of the file (head)
// and its name. want is the format the caller asked for (FormatDetect to
// let this decide). A zip archive is XLSX whatever its name; a file named
// .xlsx that is not a zip archive is malformed, not CSV.
func detectFormat(head []byte, name string, want Format) (Format, error) {
	isZip := bytes.HasPrefix(head, zipMagic) || bytes.HasPrefix(head, emptyZipMagic)
	if bytes.HasPrefix(head, oleMagic) {
		return 0, &FileError{Err: ErrMalformed,
			Detail: "this is a legacy .xls workbook or a password-protected one; save it as .xlsx without a password, or as CSV UTF-8"}
	}
	switch want {
	case FormatXLSX:
		if !isZip {
			return 0, &FileError{Err: ErrMalformed, Detail: "an XLSX workbook is a zip archive and this file is not one"}
		}
		return FormatXLSX, nil
	case FormatCSV:
		if isZip {
			return 0, &FileError{Err: ErrMalformed, Detail: "this is a zip archive (an XLSX workbook?), not CSV text"}
		}
		return FormatCSV, nil
	case FormatDetect:
	default:
		return 0, &FileError{Err: ErrMalformed, Detail: "unknown format requested"}
	}
	if isZip {
		return FormatXLSX, nil
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".xlsx", ".xlsm", ".xltx", ".xltm":
		return 0, &FileError{Err: ErrMalformed, Detail: "the file is named as an XLSX workbook but is not a zip archive"}
	case ".xls":
		return 0, &FileError{Err: ErrMalformed, Detail: "legacy .xls workbooks are not supported; save it as .xlsx or as CSV UTF-8"}
	}
	return FormatCSV, nil
}
