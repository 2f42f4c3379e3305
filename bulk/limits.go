package bulk

import (
	"errors"
	"io"
)

// Default bounds; see Limits.
const (
	DefaultMaxBytes         = 50 << 20  // 50 MiB of input
	DefaultMaxRows          = 200_000   // data rows
	DefaultMaxCellBytes     = 4 << 10   // 4 KiB per cell
	DefaultMaxRecordBytes   = 1 << 20   // 1 MiB per CSV record or XLSX row
	DefaultMaxUnzippedBytes = 256 << 20 // 256 MiB of uncompressed workbook parts
)

// Bounds of the XLSX path that are not configurable: see Limits.
const (
	// xmlInMemory is the size above which excelize keeps a worksheet or the
	// shared-string table in a temporary file rather than in memory
	// (excelize.Options.UnzipXMLSizeLimit).
	xmlInMemory = 1 << 20
	// maxInMemoryParts bounds the total uncompressed size of the workbook
	// parts excelize holds in memory: every part but the worksheets and the
	// shared-string table larger than xmlInMemory.
	maxInMemoryParts = 32 << 20
	// maxParts bounds the number of entries of the zip archive.
	maxParts = 10_000
	// maxCellsPerRow is Excel's column count; more cells in one row is malformed.
	maxCellsPerRow = 16_384
	// sharedStringsPerRow bounds the shared-string table: at most this many
	// strings per allowed row (MaxRows), plus sharedStringsSlack.
	sharedStringsPerRow = 8
	sharedStringsSlack  = 4096
)

// Limits bounds what a Reader accepts, so that memory, disk and time stay
// bounded whatever the input. A zero (or negative) field takes its default.
//
// Memory: reading CSV holds about one record at a time (at most
// MaxRecordBytes, a few times over in encoding/csv's buffers). Reading XLSX
// holds the workbook's small parts in memory (at most 32 MiB uncompressed in
// total, checked before excelize opens the file), the worksheet and the
// shared-string table in temporary files once larger than 1 MiB, excelize's
// index of the shared strings (about 50 bytes per string; at most
// 8 × MaxRows + 4096 strings) and one row at a time (at most
// MaxRecordBytes of XML).
type Limits struct {
	// MaxBytes bounds the input file's size in bytes (default 50 MiB).
	// Reading past it fails with ErrTooLarge.
	MaxBytes int64
	// MaxRows bounds the number of data rows (default 200,000; the header
	// and empty rows do not count). Reading one more fails with
	// ErrTooManyRows.
	MaxRows int
	// MaxCellBytes bounds one cell's text in bytes, after trimming (default
	// 4 KiB). A longer cell is a row-level ErrCellTooLong.
	MaxCellBytes int
	// MaxRecordBytes bounds one CSV record (with any blank lines before it)
	// and one XLSX row's XML, in bytes (default 1 MiB). It also bounds every
	// XML token of a workbook. Past it, reading fails with ErrTooLarge: the
	// reader never buffers more than this of one record.
	MaxRecordBytes int
	// MaxUnzippedBytes bounds the total uncompressed size of an XLSX
	// workbook's parts (default 256 MiB): a zip bomb fails with ErrTooLarge
	// before excelize inflates it. The worksheet may take this much space in
	// a temporary file.
	MaxUnzippedBytes int64
}

// withDefaults returns l with every unset field at its default.
func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxRows <= 0 {
		l.MaxRows = DefaultMaxRows
	}
	if l.MaxCellBytes <= 0 {
		l.MaxCellBytes = DefaultMaxCellBytes
	}
	if l.MaxRecordBytes <= 0 {
		l.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if l.MaxUnzippedBytes <= 0 {
		l.MaxUnzippedBytes = DefaultMaxUnzippedBytes
	}
	return l
}

// maxSharedStrings is the largest shared-string table an XLSX may have.
func (l Limits) maxSharedStrings() int {
	return l.MaxRows*sharedStringsPerRow + sharedStringsSlack
}

var (
	// errInputTooLarge is returned by a boundedReader past its bound.
	errInputTooLarge = errors.New("input over its size bound")
	// errRecordTooLong is returned by a recordGuard past its bound.
	errRecordTooLong = errors.New("record over its size bound")
)

// boundedReader passes on at most limit bytes of r; if r has more, it fails
// with err instead of returning them.
type boundedReader struct {
	r     io.Reader
	limit int64
	err   error
	n     int64 // bytes passed on so far
	fail  error
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.fail != nil {
		return 0, b.fail
	}
	if b.n >= b.limit {
		// At the bound: the input may end exactly here. Look one byte ahead.
		if err := probeEnd(b.r); err != nil {
			if err == errMore {
				err = b.err
			}
			b.fail = err
			return 0, err
		}
		return 0, io.EOF
	}
	if rem := b.limit - b.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	k, err := b.r.Read(p)
	b.n += int64(k)
	return k, err
}

// recordGuard passes on the bytes of r up to a moving bound: the caller
// sets limit to the offset past which the current record would be too long.
// Reading past it fails with errRecordTooLong, so that encoding/csv never
// buffers more than one record's bound.
type recordGuard struct {
	r     io.Reader
	n     int64 // bytes passed on so far
	limit int64
	fail  error
}

func (g *recordGuard) Read(p []byte) (int, error) {
	if g.fail != nil {
		return 0, g.fail
	}
	if g.n >= g.limit {
		if err := probeEnd(g.r); err != nil {
			if err == errMore {
				err = errRecordTooLong
			}
			g.fail = err
			return 0, err
		}
		return 0, io.EOF
	}
	if rem := g.limit - g.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	k, err := g.r.Read(p)
	g.n += int64(k)
	return k, err
}

// errMore is probeEnd's report that r has more bytes.
var errMore = errors.New("more input")

// probeEnd reads one byte of r: nil at the end of r, errMore if there is a
// byte (which is lost), or r's error.
func probeEnd(r io.Reader) error {
	var one [1]byte
	for range 100 {
		k, err := r.Read(one[:])
		if k > 0 {
			return errMore
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}
