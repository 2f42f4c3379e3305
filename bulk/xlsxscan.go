package bulk

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// prescan checks an XLSX workbook before excelize opens it, so that a
// malformed or hostile file fails with a clear FileError instead of making
// excelize buffer without bound. It reads the zip archive's directory and
// inflates every XML part once, checking:
//
//   - the archive opens and has [Content_Types].xml and _rels/.rels;
//   - at most maxParts entries, at most Limits.MaxUnzippedBytes uncompressed
//     in total, at most maxInMemoryParts in the parts excelize keeps in
//     memory (Go's archive/zip refuses a part that inflates to more than its
//     declared size, so declared sizes bound what excelize reads);
//   - every XML part inflates without error and has no markup or text run
//     longer than Limits.MaxRecordBytes (encoding/xml buffers a token whole);
//   - in a worksheet, no row longer than MaxRecordBytes or with more than
//     16,384 cells, and row numbers that increase (excelize merges rows that
//     come out of order into one, without bound);
//   - in the shared-string table, no string longer than MaxRecordBytes and
//     at most Limits.maxSharedStrings strings.
func prescan(ctx context.Context, ra io.ReaderAt, size int64, l Limits) error {
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return &FileError{Err: ErrMalformed, Cause: err, Detail: "the file is not a zip archive, as an XLSX workbook is"}
	}
	if len(zr.File) > maxParts {
		return &FileError{Err: ErrTooLarge, Detail: fmt.Sprintf("the workbook has more than %d parts", maxParts)}
	}
	var total, inMemory uint64
	have := map[string]bool{}
	for _, f := range zr.File {
		name := strings.ToLower(strings.ReplaceAll(f.Name, `\`, "/"))
		have[name] = true
		size := f.UncompressedSize64
		total += size
		if total > uint64(l.MaxUnzippedBytes) || size > uint64(l.MaxUnzippedBytes) {
			return &FileError{Err: ErrTooLarge, Detail: fmt.Sprintf(
				"uncompressed, the workbook is larger than %d MiB", l.MaxUnzippedBytes>>20)}
		}
		kind := partKind(name)
		if kind == partOther || size <= xmlInMemory {
			inMemory += size
			if inMemory > maxInMemoryParts {
				return &FileError{Err: ErrTooLarge, Detail: fmt.Sprintf(
					"the workbook holds more than %d MiB besides its worksheets (pictures, styles); remove them or save the sheet as CSV",
					maxInMemoryParts>>20)}
			}
		}
	}
	for _, need := range []string{"[content_types].xml", "_rels/.rels"} {
		if !have[need] {
			return &FileError{Err: ErrMalformed, Detail: "the workbook has no " + need + " part"}
		}
	}
	for _, f := range zr.File {
		name := strings.ToLower(strings.ReplaceAll(f.Name, `\`, "/"))
		if !strings.HasSuffix(name, ".xml") && !strings.HasSuffix(name, ".rels") {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := scanPart(ctx, f, partKind(name), l); err != nil {
			return err
		}
	}
	return nil
}

// Kinds of workbook part, as excelize treats them.
const (
	partOther   = iota
	partSheet   // a worksheet: streamed, and kept in a temporary file when large
	partStrings // the shared-string table: likewise
)

// partKind tells how excelize treats a part by its lower-cased name.
func partKind(name string) int {
	switch {
	case name == "xl/sharedstrings.xml":
		return partStrings
	case strings.HasPrefix(name, "xl/worksheets/sheet"):
		return partSheet
	}
	return partOther
}

// scanPart inflates one XML part through an xmlScanner.
func scanPart(ctx context.Context, f *zip.File, kind int, l Limits) error {
	rc, err := f.Open()
	if err != nil {
		return damaged(f.Name, err)
	}
	defer rc.Close()
	s := &xmlScanner{kind: kind, max: int64(l.MaxRecordBytes), maxStrings: l.maxSharedStrings()}
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			if serr := s.write(buf[:n]); serr != nil {
				return serr
			}
			s.read += int64(n)
			if s.read&(1<<20-1) < int64(n) {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return damaged(f.Name, err)
		}
	}
}

func damaged(part string, err error) error {
	return &FileError{Err: ErrMalformed, Cause: err, Detail: fmt.Sprintf("the workbook's part %q is damaged", clip(part, 80))}
}

// Lexer states of xmlScanner.
const (
	inText = iota
	inMarkup
	inComment
	inCDATA
)

// xmlScanner measures an XML part byte by byte, without building tokens. It
// is a lexer just good enough to find where encoding/xml's tokens begin and
// end (tags with quoted attributes, comments, CDATA sections, directives with
// internal subsets) and the rows, cells and shared strings of excelize's
// interest.
type xmlScanner struct {
	kind       int
	max        int64
	maxStrings int
	read       int64 // bytes inflated so far

	state      int
	quote      byte // the quote an attribute value is in, or 0
	depth      int  // '[' nesting in a directive
	prev, prv2 byte // the two bytes before, in a comment or CDATA section
	tok        int64
	tag        []byte // the first bytes of the current markup, '<' excluded

	inRow    bool
	rowBytes int64
	cells    int
	lastRow  int
	rows     int

	inString    bool
	stringBytes int64
	strings     int
}

// tagCapture is how much of a tag the scanner keeps to read its name and
// attributes.
const tagCapture = 256

func (s *xmlScanner) write(p []byte) error {
	for _, c := range p {
		s.tok++
		if s.inRow {
			s.rowBytes++
			if s.rowBytes > s.max {
				return s.tooLarge(fmt.Sprintf("row %d is longer than %d bytes of XML", s.lastRow, s.max))
			}
		}
		if s.inString {
			s.stringBytes++
			if s.stringBytes > s.max {
				return s.tooLarge(fmt.Sprintf("shared string %d is longer than %d bytes of XML", s.strings, s.max))
			}
		}
		if s.tok > s.max {
			return s.tooLarge(fmt.Sprintf("the workbook has a piece of XML longer than %d bytes", s.max))
		}
		switch s.state {
		case inText:
			if c == '<' {
				s.state, s.tok, s.tag, s.quote, s.depth = inMarkup, 1, s.tag[:0], 0, 0
			}
		case inComment, inCDATA:
			end := c == '>' && ((s.state == inComment && s.prev == '-' && s.prv2 == '-') ||
				(s.state == inCDATA && s.prev == ']' && s.prv2 == ']'))
			s.prv2, s.prev = s.prev, c
			if end {
				s.state, s.tok = inText, 0
			}
		case inMarkup:
			if len(s.tag) < tagCapture {
				s.tag = append(s.tag, c)
				if len(s.tag) == 3 && string(s.tag) == "!--" {
					s.state, s.prev, s.prv2 = inComment, 0, 0
					continue
				}
				if len(s.tag) == 8 && string(s.tag) == "![CDATA[" {
					s.state, s.prev, s.prv2 = inCDATA, 0, 0
					continue
				}
			}
			switch {
			case s.quote != 0:
				if c == s.quote {
					s.quote = 0
				}
			case c == '"' || c == '\'':
				s.quote = c
			case c == '[' && s.tag[0] == '!':
				s.depth++
			case c == ']' && s.tag[0] == '!' && s.depth > 0:
				s.depth--
			case c == '>' && s.depth == 0:
				if err := s.endMarkup(); err != nil {
					return err
				}
				s.state, s.tok = inText, 0
			}
		}
	}
	return nil
}

// endMarkup looks at a complete tag (in s.tag, up to tagCapture bytes).
func (s *xmlScanner) endMarkup() error {
	tag := s.tag
	if len(tag) == 0 || tag[0] == '!' || tag[0] == '?' {
		return nil
	}
	closing := tag[0] == '/'
	if closing {
		tag = tag[1:]
	}
	selfClosing := len(tag) > 1 && tag[len(tag)-2] == '/'
	name := localName(tag)
	switch {
	case s.kind == partSheet && name == "row":
		if closing {
			s.inRow = false
			return nil
		}
		s.rows++
		row := s.lastRow + 1
		if v, ok := attrValue(tag, "r"); ok {
			if n, err := strconv.Atoi(v); err == nil {
				row = n
			}
		}
		if row <= s.lastRow {
			return &FileError{Err: ErrMalformed, Line: row, Detail: fmt.Sprintf(
				"the worksheet's rows are out of order (row %d after row %d)", row, s.lastRow)}
		}
		s.lastRow, s.cells = row, 0
		s.inRow, s.rowBytes = !selfClosing, s.tok
	case s.kind == partSheet && name == "c" && s.inRow && !closing:
		s.cells++
		if s.cells > maxCellsPerRow {
			return &FileError{Err: ErrMalformed, Line: s.lastRow, Detail: fmt.Sprintf(
				"row %d has more than %d cells", s.lastRow, maxCellsPerRow)}
		}
	case s.kind == partStrings && name == "si":
		if closing {
			s.inString = false
			return nil
		}
		s.strings++
		if s.strings > s.maxStrings {
			return s.tooLarge(fmt.Sprintf("the workbook has more than %d shared strings", s.maxStrings))
		}
		s.inString, s.stringBytes = !selfClosing, s.tok
	}
	return nil
}

func (s *xmlScanner) tooLarge(detail string) error {
	fe := &FileError{Err: ErrTooLarge, Detail: detail}
	if s.kind == partSheet && s.inRow {
		fe.Line = s.lastRow
	}
	return fe
}

// localName returns the element name of a tag's bytes (name first), without
// its namespace prefix.
func localName(tag []byte) string {
	end := 0
	for end < len(tag) && !isXMLSpace(tag[end]) && tag[end] != '/' && tag[end] != '>' {
		end++
	}
	name := tag[:end]
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == ':' {
			name = name[i+1:]
			break
		}
	}
	return string(name)
}

// attrValue returns the value of the attribute named name (without prefix)
// in a tag's bytes, if the captured bytes hold it whole.
func attrValue(tag []byte, name string) (string, bool) {
	i := 0
	for i < len(tag) && !isXMLSpace(tag[i]) && tag[i] != '/' && tag[i] != '>' {
		i++
	}
	for i < len(tag) {
		for i < len(tag) && (isXMLSpace(tag[i]) || tag[i] == '/' || tag[i] == '>') {
			i++
		}
		start := i
		for i < len(tag) && tag[i] != '=' && !isXMLSpace(tag[i]) && tag[i] != '/' && tag[i] != '>' {
			i++
		}
		key := string(tag[start:i])
		for i < len(tag) && isXMLSpace(tag[i]) {
			i++
		}
		if i >= len(tag) || tag[i] != '=' {
			if i == start {
				i++ // a stray byte: step over it
			}
			continue
		}
		i++
		for i < len(tag) && isXMLSpace(tag[i]) {
			i++
		}
		if i >= len(tag) || (tag[i] != '"' && tag[i] != '\'') {
			return "", false
		}
		q := tag[i]
		i++
		vs := i
		for i < len(tag) && tag[i] != q {
			i++
		}
		if i >= len(tag) {
			return "", false
		}
		if key == name {
			return string(tag[vs:i]), true
		}
		i++
	}
	return "", false
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
