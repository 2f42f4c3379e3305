// Package bulk reads and writes spreadsheets of users: CSV and XLSX files
// for bulk import and export.
//
// It turns a file into typed rows (Reader) and users into a file (Writer),
// and on top of them applies a file to a usermgmt.Manager (Import) and
// writes a listing of users to a file (Export).
//
// # Import and export
//
// Import reads the whole file first, checking every row and resolving the
// Account column (an account ID or name within the import's account
// subtree), the Groups column (group names of the row's account) and role
// names (ignoring case); then it hands the rows to Manager.InviteUsers in
// chunks of 500, which writes each chunk's new users in one store call, all
// or nothing, every user with its audit event and its invitation email
// (settling row by row when an address turns out to be taken meanwhile).
// ImportOptions.DryRun reports without writing. The Report gives
// every row's outcome by line — invited, created (Active with an imported
// password hash, or Disabled), skipped (exists, invitation pending,
// duplicate of line N) or rejected, with the field and the reason — and
// the created users' IDs. A file-level error writes nothing; a cancelled
// context or a store failure while applying stops at a row (*StopError),
// and running the same file again finishes the job, skipping what exists.
//
// Export writes the users a usermgmt.UserQuery selects, page by page, in
// the columns Import reads: importing an export again skips every row.
//
// # Reading
//
// NewReader (or Open, for a file path) detects the format, checks the
// encoding or the workbook, and reads up to the header row; Next returns
// each data row after it, streamed: a CSV record or a sheet row at a time.
//
//   - CSV: UTF-8 with or without a byte-order mark, or UTF-16 LE/BE with
//     one (Excel's "Unicode text"); comma, semicolon or tab separated,
//     detected from the header line (or Excel's "sep=;" first line); quoted
//     fields may hold newlines and delimiters; quotes that do not pair up
//     are read as text, as spreadsheet programs do.
//   - XLSX: the first sheet, or ReadOptions.Sheet; cells as displayed
//     (number formats applied); streamed with excelize's Rows iterator
//     after a prescan that refuses zip bombs and XML that would make
//     excelize buffer without bound.
//
// Header cells are matched ignoring case, spaces and punctuation, with
// aliases (see Field and FieldForHeader). A header without an email column,
// or with two columns of the same field, is a file-level error; unknown
// columns are listed by Reader.Unknown and otherwise ignored. Status,
// Created and Last Login, which export writes, are recognised as
// informational and never applied.
//
// Rows that are empty (every cell blank) are skipped. Every value is
// trimmed of surrounding spaces, and a formula-neutralising quote that
// export added is removed (see Neutralise and Unneutralise).
//
// # Errors
//
// Problems of the file as a whole are *FileError values matching one of
// ErrMalformed, ErrEncoding, ErrTooLarge, ErrTooManyRows, ErrEmpty,
// ErrNoEmailColumn, ErrDuplicateColumn, ErrSheetNotFound and ErrRead, with
// messages fit to show an admin. Problems of one row are *RowError values in
// Row.Errors, matching ErrRaggedRow, ErrCellTooLong, ErrInvalidUTF8,
// ErrNULByte, ErrInvalidBoolean or ErrEmptyEmail, and naming the line and
// column; reading goes on after them.
//
// # Bounds
//
// Limits bounds the input's size, its rows, each cell, each record or row,
// and a workbook's uncompressed size, so that memory stays bounded whatever
// the input: reading 100,000 rows of XLSX peaks at a few tens of megabytes
// (see TestReadMemory).
//
// # Writing
//
// NewWriter streams users (Record) to CSV or XLSX with a header row the
// reader recognises; every cell is neutralised against spreadsheet formula
// injection, and XLSX cells are always strings, never formulas.
package bulk
