package bulk

import "strings"

// Spreadsheet formula injection (OWASP, "CSV Injection"): a cell whose text
// begins with '=', '+', '-', '@', a tab or a carriage return may be taken for
// a formula by the spreadsheet program that opens an export. The Writer
// prefixes such a cell with a single quote, which spreadsheets show as text.
//
// To make export → import give back what was exported, the rule is applied to
// the text after any single quotes it already begins with, and the reader
// undoes exactly one quote:
//
//	value          written        read back
//	-Anne          '-Anne         -Anne
//	'-Anne         ''-Anne        '-Anne
//	'Anne          'Anne          'Anne     (no trigger after the quotes)
//	=1+1           '=1+1          =1+1
//
// A cell typed as '-Anne in a file made by hand is read as -Anne, as a
// spreadsheet program shows it.

// formulaTriggers are the first characters that make a cell a formula.
const formulaTriggers = "=+-@\t\r"

// needsQuote reports whether s, after its leading single quotes, begins with
// a formula trigger.
func needsQuote(s string) bool {
	rest := strings.TrimLeft(s, "'")
	return rest != "" && strings.IndexByte(formulaTriggers, rest[0]) >= 0
}

// Neutralise returns s made safe to put in a spreadsheet cell: s itself, or
// s with a single quote in front when s (after any single quotes it begins
// with) begins with '=', '+', '-', '@', a tab or a carriage return. The
// Writer applies it to every cell; the Reader undoes it (see Unneutralise).
func Neutralise(s string) string {
	if needsQuote(s) {
		return "'" + s
	}
	return s
}

// Unneutralise undoes Neutralise: it removes one leading single quote from s
// when s begins with a quote and, after its leading quotes, with a formula
// trigger. For every string s, Unneutralise(Neutralise(s)) == s.
func Unneutralise(s string) string {
	if len(s) > 1 && s[0] == '\'' && needsQuote(s) {
		return s[1:]
	}
	return s
}
