package bulk

import (
	"strings"
	"unicode/utf8"
)

// Row is one data row of the file, as read: where it came from, each cell by
// column, the typed fields, and the problems found in it.
//
// A Row with Errors must not be applied: its typed fields may be incomplete
// (a cell with a problem contributes no value). The typed fields of a column
// the file does not have are zero; Has tells an absent column from an empty
// cell.
type Row struct {
	// Line is the 1-based line the row starts on (CSV: the line of the
	// record's first field, counting every line of the file, quoted newlines
	// included) or its sheet row number (XLSX).
	Line int
	// Cells holds the row's text by column, aligned with Reader.Columns():
	// Cells[i] is the cell under Columns()[i], trimmed of surrounding spaces
	// and with a formula-neutralising quote removed (see Unneutralise); ""
	// for a missing or empty cell and for a cell with a problem.
	Cells []string

	Email        string   // as written (trimmed); normalising it is the caller's job
	FirstName    string   // given name
	LastName     string   // family name
	Role         string   // role name as written
	Account      string   // account name or ID as written
	Department   string   // department name as written
	Groups       []string // the Groups cell split at ';' and ',', each trimmed; no empty or repeated names; nil when empty
	Active       *bool    // nil when the cell is empty or the column absent: the caller's default applies
	PasswordHash string   // a password hash (a PHC string, say) to store as is
	Locale       string   // locale or language tag as written

	// Errors lists the row's problems; empty when there are none.
	Errors []*RowError

	h *header
}

// Has reports whether the file has a column for field f.
func (r *Row) Has(f Field) bool {
	return r.h != nil && f > FieldUnknown && f < numFields && r.h.at[f] >= 0
}

// Value returns the cell text of field f's column and whether the file has
// such a column.
func (r *Row) Value(f Field) (string, bool) {
	if !r.Has(f) {
		return "", false
	}
	return r.Cells[r.h.at[f]], true
}

// OK reports whether the row has no errors.
func (r *Row) OK() bool { return len(r.Errors) == 0 }

// buildRow makes a Row of the raw cells of one record or sheet row. It
// returns nil when every cell is empty (after trimming): such rows are
// skipped. strict is true for CSV, where a record must have exactly one field
// per header column; in a sheet, trailing empty cells are simply absent.
func buildRow(h *header, line int, raw []string, strict, sheet bool, maxCell int) *Row {
	empty := true
	for _, c := range raw {
		if strings.TrimSpace(c) != "" {
			empty = false
			break
		}
	}
	if empty {
		return nil
	}
	r := &Row{Line: line, Cells: make([]string, len(h.cols)), h: h}
	addErr := func(col int, err error) {
		e := &RowError{Line: line, Column: col + 1, Err: err, Sheet: sheet}
		if col < 0 {
			e.Column = 0
		} else {
			e.Header, e.Field = h.cols[col].Header, h.cols[col].Field
		}
		r.Errors = append(r.Errors, e)
	}
	if strict && len(raw) != len(h.cols) {
		addErr(-1, ErrRaggedRow)
	} else if !strict {
		for _, c := range raw[min(len(raw), len(h.cols)):] {
			if strings.TrimSpace(c) != "" {
				addErr(-1, ErrRaggedRow)
				break
			}
		}
	}
	for i := range min(len(raw), len(h.cols)) {
		v, err := cleanCell(raw[i], maxCell)
		if err != nil {
			// A problem in a column the reader does not use is no reason to
			// refuse the row: the cell is dropped silently.
			if h.cols[i].Field.used() {
				addErr(i, err)
			}
			continue
		}
		r.Cells[i] = v
	}
	for f := FieldEmail; f < numFields; f++ {
		i := h.at[f]
		if i < 0 {
			continue
		}
		v := r.Cells[i]
		switch f {
		case FieldEmail:
			r.Email = v
			if v == "" && !r.hasErrorAt(i) {
				addErr(i, ErrEmptyEmail)
			}
		case FieldFirstName:
			r.FirstName = v
		case FieldLastName:
			r.LastName = v
		case FieldRole:
			r.Role = v
		case FieldAccount:
			r.Account = v
		case FieldDepartment:
			r.Department = v
		case FieldGroups:
			r.Groups = splitList(v)
		case FieldActive:
			b, ok := parseBool(v)
			if !ok {
				addErr(i, ErrInvalidBoolean)
			}
			r.Active = b
		case FieldPasswordHash:
			r.PasswordHash = v
		case FieldLocale:
			r.Locale = v
		}
	}
	return r
}

// hasErrorAt reports whether a cell error was recorded for column index i.
func (r *Row) hasErrorAt(i int) bool {
	for _, e := range r.Errors {
		if e.Column == i+1 {
			return true
		}
	}
	return false
}

// cleanCell checks one cell and returns its text trimmed and unneutralised.
func cleanCell(s string, maxCell int) (string, error) {
	if !utf8.ValidString(s) {
		return "", ErrInvalidUTF8
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "", ErrNULByte
	}
	s = strings.TrimSpace(s)
	if len(s) > maxCell {
		return "", ErrCellTooLong
	}
	return Unneutralise(s), nil
}

// parseBool reads an Active cell: nil for empty, ok false for anything but a
// yes/no word.
func parseBool(s string) (v *bool, ok bool) {
	var b bool
	switch strings.ToLower(s) {
	case "":
		return nil, true
	case "yes", "y", "true", "1":
		b = true
	case "no", "n", "false", "0":
		b = false
	default:
		return nil, false
	}
	return &b, true
}

// splitList splits a Groups cell at ';' and ',', trims each name and drops
// empty and repeated names (the first occurrence stays).
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for part := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ';' || r == ',' }) {
		part = strings.TrimSpace(part)
		if part == "" || seen[part] {
			continue
		}
		seen[part] = true
		out = append(out, part)
	}
	return out
}
