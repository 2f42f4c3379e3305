package bulk

import (
	"fmt"
	"strings"
	"unicode"
)

// Field is what a column of the file means.
type Field int

// The fields a header cell can be recognised as. The zero value,
// FieldUnknown, is a column the reader does not use.
const (
	FieldUnknown      Field = iota // a column the reader does not use
	FieldEmail                     // Email, E-mail, Email Address, Mail
	FieldFirstName                 // First Name, Given Name, Firstname, Forename, First
	FieldLastName                  // Last Name, Surname, Family Name, Last
	FieldRole                      // Role
	FieldAccount                   // Account, Client, Account ID, Sub-account
	FieldDepartment                // Department, Dept
	FieldGroups                    // Groups, Group: a list separated by ';' or ','
	FieldActive                    // Active: yes/no, true/false, y/n, 1/0; empty for the default
	FieldPasswordHash              // Password Hash, Password_hash, Hash
	FieldLocale                    // Locale, Language
	FieldStatus                    // Status: informational, written by export, never applied
	FieldCreated                   // Created: informational, written by export, never applied
	FieldLastLogin                 // Last Login: informational, written by export, never applied
	numFields
)

// fieldNames are the canonical header texts, the ones the Writer writes.
var fieldNames = [numFields]string{
	FieldUnknown:      "",
	FieldEmail:        "Email",
	FieldFirstName:    "First Name",
	FieldLastName:     "Last Name",
	FieldRole:         "Role",
	FieldAccount:      "Account",
	FieldDepartment:   "Department",
	FieldGroups:       "Groups",
	FieldActive:       "Active",
	FieldPasswordHash: "Password Hash",
	FieldLocale:       "Locale",
	FieldStatus:       "Status",
	FieldCreated:      "Created",
	FieldLastLogin:    "Last Login",
}

// String returns the field's canonical header text ("First Name"), or
// "Unknown" for FieldUnknown and values out of range.
func (f Field) String() string {
	if f <= FieldUnknown || f >= numFields {
		return "Unknown"
	}
	return fieldNames[f]
}

// Informational reports whether the field is one that export writes for
// people to read (Status, Created, Last Login). The reader recognises such
// columns, so that re-importing an export reports no unknown columns, keeps
// their text in Row.Cells, checks nothing in them and never fills a typed
// field from them.
func (f Field) Informational() bool {
	return f == FieldStatus || f == FieldCreated || f == FieldLastLogin
}

// used reports whether the reader takes a typed value from the field's
// column (and so reports problems in its cells).
func (f Field) used() bool {
	return f > FieldUnknown && f < numFields && !f.Informational()
}

// aliases maps a normalised header (see normaliseHeader) to its field.
var aliases = map[string]Field{
	"email":        FieldEmail,
	"emailaddress": FieldEmail,
	"mail":         FieldEmail,
	"firstname":    FieldFirstName,
	"givenname":    FieldFirstName,
	"forename":     FieldFirstName,
	"first":        FieldFirstName,
	"lastname":     FieldLastName,
	"surname":      FieldLastName,
	"familyname":   FieldLastName,
	"last":         FieldLastName,
	"role":         FieldRole,
	"account":      FieldAccount,
	"accountid":    FieldAccount,
	"client":       FieldAccount,
	"subaccount":   FieldAccount,
	"department":   FieldDepartment,
	"dept":         FieldDepartment,
	"groups":       FieldGroups,
	"group":        FieldGroups,
	"active":       FieldActive,
	"passwordhash": FieldPasswordHash,
	"hash":         FieldPasswordHash,
	"locale":       FieldLocale,
	"language":     FieldLocale,
	"status":       FieldStatus,
	"created":      FieldCreated,
	"lastlogin":    FieldLastLogin,
}

// FieldForHeader returns the field a header text means: case, spaces and
// punctuation are ignored, so "E-mail", "email address" and "EMAIL_ADDRESS"
// all mean FieldEmail. It returns FieldUnknown for any other text.
func FieldForHeader(header string) Field {
	return aliases[normaliseHeader(header)]
}

// normaliseHeader keeps the letters and digits of s, lower-cased.
func normaliseHeader(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// Column is one column of the file's header row.
type Column struct {
	// Index is the column's 1-based position in the file (1 is column A).
	Index int
	// Header is the header cell's text, trimmed of surrounding spaces.
	Header string
	// Field is what the header was recognised as; FieldUnknown if nothing.
	Field Field
}

// header is the parsed header row, shared by every Row of a Reader.
type header struct {
	cols []Column
	// at[f] is the 0-based index into cols of field f's column, or -1.
	at [numFields]int
}

// parseHeader recognises the header cells. It fails with ErrDuplicateColumn
// when two cells mean the same field and with ErrNoEmailColumn when none
// means email. line is the header's line or row number, for the error.
func parseHeader(cells []string, line int) (*header, error) {
	h := &header{cols: make([]Column, len(cells))}
	for f := range h.at {
		h.at[f] = -1
	}
	for i, c := range cells {
		text := strings.TrimSpace(c)
		f := FieldForHeader(text)
		h.cols[i] = Column{Index: i + 1, Header: text, Field: f}
		if f == FieldUnknown {
			continue
		}
		if prev := h.at[f]; prev >= 0 {
			return nil, &FileError{Err: ErrDuplicateColumn, Line: line, Detail: fmt.Sprintf(
				"columns %d (%q) and %d (%q) both mean %s",
				prev+1, clip(h.cols[prev].Header, 64), i+1, clip(text, 64), f)}
		}
		h.at[f] = i
	}
	if h.at[FieldEmail] < 0 {
		found := make([]string, 0, len(h.cols))
		for _, c := range h.cols {
			if c.Header != "" {
				found = append(found, c.Header)
			}
		}
		return nil, &FileError{Err: ErrNoEmailColumn, Line: line,
			Detail: "the headers found are " + quoteList(found, 20)}
	}
	return h, nil
}

// unknown returns the columns recognised as nothing.
func (h *header) unknown() []Column {
	var out []Column
	for _, c := range h.cols {
		if c.Field == FieldUnknown {
			out = append(out, c)
		}
	}
	return out
}
