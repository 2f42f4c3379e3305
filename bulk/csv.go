package bulk

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// csvSource reads the records of a CSV file.
//
// The layers, from the file up: boundedReader (MaxBytes, counts the bytes
// for Progress), bufio (to look at the first bytes), the UTF-16 decoder when
// the file starts with a UTF-16 byte-order mark (it replaces what is not
// UTF-16 with U+FFFD, as Go does for invalid UTF-8), recordGuard (MaxRecordBytes
// per record), then encoding/csv.
type csvSource struct {
	cr       *csv.Reader
	guard    *recordGuard
	limit    int64 // MaxRecordBytes
	maxBytes int64 // MaxBytes, for messages
	// skip is the number of bytes before encoding/csv's input (a "sep=" line),
	// lineOffset the number of lines in them.
	skip       int64
	lineOffset int
	// nextLine is the line after the last record read: where a record too
	// long to parse is reported.
	nextLine int
	comma    rune
	// For Progress: the length of the byte-order mark, whether the input is
	// UTF-16, and the input bytes the records read so far took (estimated
	// for UTF-16, as twice the UTF-8 bytes).
	bomLen   int64
	utf16    bool
	consumed atomic.Int64
}

// newCSVSource sets up reading CSV from br: it strips a byte-order mark,
// decodes UTF-16, reads the first line to find the delimiter, and refuses a
// header line that is not UTF-8.
func newCSVSource(br *bufio.Reader, limits Limits) (*csvSource, error) {
	s := &csvSource{limit: int64(limits.MaxRecordBytes), maxBytes: limits.MaxBytes, nextLine: 1}
	head, _ := br.Peek(64)
	var text io.Reader = br
	switch {
	case bytes.HasPrefix(head, []byte("\xEF\xBB\xBF")):
		_, _ = br.Discard(3)
		s.bomLen = 3
	case bytes.HasPrefix(head, []byte("\xFF\xFE")):
		text = transform.NewReader(br, unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder())
		s.bomLen, s.utf16 = 2, true
	case bytes.HasPrefix(head, []byte("\xFE\xFF")):
		text = transform.NewReader(br, unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder())
		s.bomLen, s.utf16 = 2, true
	case looksUTF16(head):
		return nil, &FileError{Err: ErrEncoding,
			Detail: "the file looks like UTF-16 text without a byte-order mark; save it as CSV UTF-8"}
	}
	s.guard = &recordGuard{r: text, limit: s.limit}

	first, err := readFirstLine(s.guard, s.limit)
	if err != nil {
		return nil, s.fileError(err, 1)
	}
	if !utf8.Valid(first.line) {
		return nil, &FileError{Err: ErrEncoding, Line: first.lineNo,
			Detail: "the header line is not UTF-8 text (a legacy encoding such as Windows-1252?); save the file as CSV UTF-8"}
	}
	input := first.all
	if c, ok := sepDirective(first.line); ok {
		// Excel's "sep=;" first line names the delimiter; it is no record.
		s.comma = c
		s.skip = int64(first.end)
		s.lineOffset = first.lineNo
		input = first.all[first.end:]
	} else {
		s.comma = sniffDelimiter(first.line)
	}
	s.cr = csv.NewReader(io.MultiReader(bytes.NewReader(input), s.guard))
	s.cr.Comma = s.comma
	s.cr.FieldsPerRecord = -1
	s.cr.LazyQuotes = true
	s.cr.ReuseRecord = true
	// The bound now runs from the start of the first record.
	s.guard.limit = s.skip + s.limit
	return s, nil
}

// looksUTF16 reports whether head looks like UTF-16 text without a
// byte-order mark: every other byte zero, the others not.
func looksUTF16(head []byte) bool {
	n := len(head) &^ 1
	if n < 4 {
		return false
	}
	var zeroEven, zeroOdd int
	for i := 0; i < n; i += 2 {
		if head[i] == 0 {
			zeroEven++
		}
		if head[i+1] == 0 {
			zeroOdd++
		}
	}
	pairs := n / 2
	return (zeroOdd == pairs && zeroEven == 0) || (zeroEven == pairs && zeroOdd == 0)
}

// firstLine is the start of the text up to the end of its first non-blank
// line (quoted newlines do not end a line).
type firstLine struct {
	all    []byte // every byte read: blank lines, the line, its newline
	line   []byte // the line without its newline
	end    int    // offset in all just past the line's newline
	lineNo int    // the number of lines in all[:end]
}

// readFirstLine reads r up to the end of its first non-blank line, at most
// max bytes.
func readFirstLine(r io.Reader, max int64) (firstLine, error) {
	var fl firstLine
	br := bufio.NewReaderSize(r, 4096)
	q := newQuoteScanner()
	start := 0 // start of the current line in fl.all
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			fl.end = len(fl.all)
			fl.line = bytes.TrimRight(fl.all[start:], "\r")
			fl.lineNo += bytes.Count(fl.all[start:], []byte("\n")) + 1
			return fl, nil
		}
		if err != nil {
			return fl, err
		}
		fl.all = append(fl.all, c)
		if int64(len(fl.all)) > max {
			return fl, errRecordTooLong
		}
		if !q.step(c) || c != '\n' {
			continue
		}
		line := bytes.TrimRight(fl.all[start:len(fl.all)-1], "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			start = len(fl.all)
			fl.lineNo++
			continue
		}
		fl.lineNo += bytes.Count(fl.all[start:], []byte("\n"))
		fl.line, fl.end = line, len(fl.all)
		// What the bufio read ahead is the beginning of the rest.
		rest := make([]byte, br.Buffered())
		_, _ = io.ReadFull(br, rest)
		fl.all = append(fl.all, rest...)
		return fl, nil
	}
}

// quoteScanner follows quoting as encoding/csv reads it with LazyQuotes,
// before the delimiter is known (any of comma, semicolon and tab may be it):
// a quote opens a quoted field only at the start of a field; inside one, a
// doubled quote is a quote, and a quote closes the field only before a
// delimiter or a line end (otherwise it is taken as text).
type quoteScanner struct {
	inQuotes, pending, fieldStart bool
}

func newQuoteScanner() *quoteScanner { return &quoteScanner{fieldStart: true} }

// step reads byte c and reports whether it stands outside quotes, where a
// delimiter or newline byte is structure rather than text.
func (q *quoteScanner) step(c byte) bool {
	if q.inQuotes {
		if !q.pending {
			q.pending = c == '"'
			return false
		}
		q.pending = false
		switch c {
		case ',', ';', '\t', '\r', '\n':
			q.inQuotes = false // the quote before c closed the field
		default:
			return false // a doubled quote, or a stray one taken as text
		}
	}
	switch c {
	case '"':
		if q.fieldStart {
			q.inQuotes, q.fieldStart = true, false
			return false
		}
	case ',', ';', '\t', '\n':
		q.fieldStart = true
		return true
	}
	q.fieldStart = false
	return true
}

// sepDirective reads Excel's "sep=X" line: the delimiter X and true, or
// false if line is not one.
func sepDirective(line []byte) (rune, bool) {
	s := strings.TrimSpace(string(line))
	if len(s) != 5 || !strings.EqualFold(s[:4], "sep=") {
		return 0, false
	}
	switch c := rune(s[4]); c {
	case ',', ';', '\t', '|':
		return c, true
	}
	return 0, false
}

// sniffDelimiter picks the delimiter of a header line: the most frequent of
// comma, semicolon and tab outside quotes; comma when none occurs or on a tie
// with it, semicolon over tab on a tie.
func sniffDelimiter(line []byte) rune {
	var comma, semi, tab int
	q := newQuoteScanner()
	for _, c := range line {
		if !q.step(c) {
			continue
		}
		switch c {
		case ',':
			comma++
		case ';':
			semi++
		case '\t':
			tab++
		}
	}
	switch {
	case comma >= semi && comma >= tab:
		return ','
	case semi >= tab:
		return ';'
	}
	return '\t'
}

// read returns the next record: the line it starts on and its fields, or
// a file-level error (io.EOF at the end). With LazyQuotes, encoding/csv
// takes a quote it cannot pair as text, as spreadsheet programs do, so it
// reports no parse errors; any other error ends the reading.
func (s *csvSource) read() (int, []string, error) {
	rec, err := s.cr.Read()
	if err == io.EOF {
		return 0, nil, io.EOF
	}
	if err != nil {
		return 0, nil, s.fileError(err, s.nextLine)
	}
	line, _ := s.cr.FieldPos(0)
	lastLine, _ := s.cr.FieldPos(len(rec) - 1)
	s.nextLine = lastLine + strings.Count(rec[len(rec)-1], "\n") + s.lineOffset + 1
	off := s.skip + s.cr.InputOffset()
	s.guard.limit = off + s.limit
	if s.utf16 {
		off *= 2
	}
	s.consumed.Store(s.bomLen + off)
	return line + s.lineOffset, rec, nil
}

// fileError turns an error from the layers under encoding/csv into a
// FileError reported at line.
func (s *csvSource) fileError(err error, line int) error {
	var fe *FileError
	switch {
	case errors.As(err, &fe):
		return fe
	case errors.Is(err, errRecordTooLong):
		return &FileError{Err: ErrTooLarge, Line: line, Cause: err,
			Detail: fmt.Sprintf("a record is longer than %d bytes (quotes that never close?)", s.limit)}
	case errors.Is(err, errInputTooLarge):
		return &FileError{Err: ErrTooLarge, Line: line, Cause: err,
			Detail: fmt.Sprintf("the file is larger than %d bytes", s.maxBytes)}
	case errors.As(err, new(*csv.ParseError)):
		return &FileError{Err: ErrMalformed, Line: line, Cause: err, Detail: "the CSV text cannot be parsed"}
	}
	return &FileError{Err: ErrRead, Line: line, Cause: err}
}

func (s *csvSource) close() error { return nil }
