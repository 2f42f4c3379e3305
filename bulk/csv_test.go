package bulk

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/unicode"
)

func TestCSVReadsTypedFields(t *testing.T) {
	text := "E-mail, Given name ,SURNAME,Role,Client,Dept,Group,Active,Password_hash,Language,Notes\r\n" +
		"  ada@example.com ,Ada,Lovelace,admin,Acme,R&D,\"Ops; Sales, Ops\",Yes,$argon2id$v=19$x,en-GB,first\r\n" +
		"grace@example.com,Grace,Hopper,user,Acme,,,,,,\r\n" +
		"alan@example.com,Alan,Turing,user,Acme,,,0,,,\r\n"
	res := readCSV(t, text)
	require.NoError(t, res.err)
	require.Len(t, res.rows, 3)

	r := res.rows[0]
	assert.Equal(t, 2, r.Line)
	assert.Empty(t, r.Errors)
	assert.True(t, r.OK())
	assert.Equal(t, "ada@example.com", r.Email)
	assert.Equal(t, "Ada", r.FirstName)
	assert.Equal(t, "Lovelace", r.LastName)
	assert.Equal(t, "admin", r.Role)
	assert.Equal(t, "Acme", r.Account)
	assert.Equal(t, "R&D", r.Department)
	assert.Equal(t, []string{"Ops", "Sales"}, r.Groups)
	require.NotNil(t, r.Active)
	assert.True(t, *r.Active)
	assert.Equal(t, "$argon2id$v=19$x", r.PasswordHash)
	assert.Equal(t, "en-GB", r.Locale)
	assert.Equal(t, "first", r.Cells[10], "unknown columns keep their text in Cells")
	v, ok := r.Value(FieldFirstName)
	assert.True(t, ok)
	assert.Equal(t, "Ada", v)
	_, ok = r.Value(FieldStatus)
	assert.False(t, ok)
	assert.False(t, r.Has(FieldStatus))

	assert.Nil(t, res.rows[1].Active, "an empty Active cell leaves the default")
	assert.Nil(t, res.rows[1].Groups)
	require.NotNil(t, res.rows[2].Active)
	assert.False(t, *res.rows[2].Active)

	assert.Equal(t, FormatCSV, res.rd.Format())
	assert.Equal(t, ',', res.rd.Delimiter())
	assert.Equal(t, 1, res.rd.HeaderLine())
	assert.Equal(t, []Column{{Index: 11, Header: "Notes", Field: FieldUnknown}}, res.rd.Unknown())
	cols := res.rd.Columns()
	require.Len(t, cols, 11)
	assert.Equal(t, Column{Index: 2, Header: "Given name", Field: FieldFirstName}, cols[1])
	assert.True(t, res.rd.Has(FieldPasswordHash))
	assert.False(t, res.rd.Has(FieldCreated))
}

func TestCSVByteOrderMarks(t *testing.T) {
	const text = "Email\tFirst Name\tLast Name\r\nzoë@example.com\tZoë\tŁukasz 😀\r\n"
	want := func(t *testing.T, res readResult) {
		t.Helper()
		require.NoError(t, res.err)
		require.Len(t, res.rows, 1)
		assert.Equal(t, '\t', res.rd.Delimiter())
		assert.Equal(t, "zoë@example.com", res.rows[0].Email)
		assert.Equal(t, "Zoë", res.rows[0].FirstName)
		assert.Equal(t, "Łukasz 😀", res.rows[0].LastName)
		assert.Equal(t, 2, res.rows[0].Line)
		assert.Empty(t, res.rows[0].Errors)
	}
	t.Run("UTF-8 with BOM", func(t *testing.T) {
		want(t, readAll(t, []byte("\xEF\xBB\xBF"+text), ReadOptions{}))
	})
	t.Run("UTF-8 without BOM", func(t *testing.T) {
		want(t, readAll(t, []byte(text), ReadOptions{}))
	})
	// Excel's "Unicode text" is UTF-16 LE with a BOM, tab-separated.
	for name, enc := range map[string]unicode.Endianness{"UTF-16LE": unicode.LittleEndian, "UTF-16BE": unicode.BigEndian} {
		t.Run(name, func(t *testing.T) {
			b, err := unicode.UTF16(enc, unicode.UseBOM).NewEncoder().Bytes([]byte(text))
			require.NoError(t, err)
			want(t, readAll(t, b, ReadOptions{}))
		})
	}
	t.Run("UTF-16 without BOM is refused", func(t *testing.T) {
		b, err := unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewEncoder().Bytes([]byte(text))
		require.NoError(t, err)
		fe := requireFileErr(t, readAll(t, b, ReadOptions{}).err, ErrEncoding)
		assert.Contains(t, fe.Error(), "UTF-16")
	})
	t.Run("Windows-1252 header is refused", func(t *testing.T) {
		res := readCSV(t, "Email,Pr\xe9nom\nx@example.com,Ren\xe9\n")
		fe := requireFileErr(t, res.err, ErrEncoding)
		assert.Equal(t, 1, fe.Line)
		assert.Contains(t, fe.Error(), "CSV UTF-8")
	})
}

func TestCSVDelimiterDetection(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       rune
	}{
		{"comma", "Email,First Name\na@x.io,A\n", ','},
		{"semicolon", "Email;First Name;Groups\na@x.io;A;\"g1,g2\"\n", ';'},
		{"tab", "Email\tFirst Name\na@x.io\tA\n", '\t'},
		{"commas inside quotes do not count", "\"Email\";\"Name, given, or first\";Surname\na@x.io;A;B\n", ';'},
		{"quoted newline in the header", "\"Email\naddress\";First\na@x.io;A\n", ';'},
		{"single column", "Email\na@x.io\n", ','},
		{"blank lines first", "\n\n  \nEmail;First\na@x.io;A\n", ';'},
		{"sep line", "sep=;\nEmail;First Name\na@x.io;A\n", ';'},
		{"sep line beats the count", "SEP=|\nEmail|First,Name\na@x.io|A,B\n", '|'},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := readCSV(t, tc.text)
			require.NoError(t, res.err)
			assert.Equal(t, tc.want, res.rd.Delimiter())
			require.Len(t, res.rows, 1)
			assert.Equal(t, "a@x.io", res.rows[0].Email)
			assert.Empty(t, res.rows[0].Errors)
		})
	}
}

func TestCSVLineNumbers(t *testing.T) {
	text := "sep=,\n" + // line 1
		"\n" + // 2
		"Email,First Name,Last Name\n" + // 3
		"a@x.io,\"Ann\nMarie\",Lee\n" + // 4-5
		"\n" + // 6
		",,\n" + // 7: empty row, skipped
		"b@x.io,Bob,\"Multi\r\nline\r\nname\"\n" + // 8-10
		"c@x.io,Cy,Ray" // 11, no final newline
	res := readCSV(t, text)
	require.NoError(t, res.err)
	assert.Equal(t, 3, res.rd.HeaderLine())
	require.Len(t, res.rows, 3)
	assert.Equal(t, 4, res.rows[0].Line)
	assert.Equal(t, "Ann\nMarie", res.rows[0].FirstName)
	assert.Equal(t, 8, res.rows[1].Line)
	assert.Equal(t, "Multi\nline\nname", res.rows[1].LastName)
	assert.Equal(t, 11, res.rows[2].Line)
	assert.Equal(t, "Ray", res.rows[2].LastName)
}

func TestCSVRowErrors(t *testing.T) {
	long := strings.Repeat("x", DefaultMaxCellBytes+1)
	text := "Email,First Name,Active,Notes\n" +
		"a@x.io,Ann\n" + // 2: too few fields
		"b@x.io,Bob,yes,n,extra\n" + // 3: too many fields
		"c@x.io,C\xffy,yes,\n" + // 4: invalid UTF-8
		"d@x.io,D\x00n,no,\n" + // 5: NUL
		"e@x.io," + long + ",y,\n" + // 6: too long
		"f@x.io,Fay,maybe,\n" + // 7: not a boolean
		",Gus,,\n" + // 8: no email
		"h@x.io,Hal,N,\xff\x00" + long + "\n" + // 9: problems in an unknown column are not reported
		"i@x.io,\"  " + strings.Repeat(" ", DefaultMaxCellBytes) + "Ivy  \",TRUE,\n" // 10: long only before trimming
	res := readCSV(t, text)
	require.NoError(t, res.err)
	require.Len(t, res.rows, 9)
	for i, want := range [][]error{
		{ErrRaggedRow},
		{ErrRaggedRow},
		{ErrInvalidUTF8},
		{ErrNULByte},
		{ErrCellTooLong},
		{ErrInvalidBoolean},
		{ErrEmptyEmail},
		nil,
		nil,
	} {
		row := res.rows[i]
		assert.Equal(t, i+2, row.Line)
		assert.Equal(t, want, rowErrs(row), "line %d", row.Line)
		for _, e := range row.Errors {
			assert.Equal(t, row.Line, e.Line)
			assert.ErrorIs(t, e, e.Err)
		}
	}
	// The ragged rows still carry what they have, aligned with the header.
	assert.Equal(t, []string{"a@x.io", "Ann", "", ""}, res.rows[0].Cells)
	assert.Equal(t, []string{"b@x.io", "Bob", "yes", "n"}, res.rows[1].Cells)
	assert.Equal(t, 0, res.rows[0].Errors[0].Column)

	bad := res.rows[2].Errors[0]
	assert.Equal(t, 2, bad.Column)
	assert.Equal(t, "First Name", bad.Header)
	assert.Equal(t, FieldFirstName, bad.Field)
	assert.Equal(t, `line 4, column 2 "First Name": bulk: the cell is not UTF-8 text (save the file as CSV UTF-8)`, bad.Error())
	assert.Empty(t, res.rows[2].FirstName, "a cell with a problem gives no value")
	assert.Empty(t, res.rows[2].Cells[1])

	assert.Nil(t, res.rows[5].Active)
	assert.Equal(t, `line 7, column 3 "Active": bulk: the cell is not yes or no`, res.rows[5].Errors[0].Error())
	assert.Equal(t, "", res.rows[7].Cells[3], "a bad cell in an unknown column is dropped silently")
	assert.Equal(t, "Ivy", res.rows[8].FirstName)
	require.NotNil(t, res.rows[7].Active)
	assert.False(t, *res.rows[7].Active)
}

func TestCSVQuotesAsSpreadsheetsReadThem(t *testing.T) {
	// A quote inside an unquoted field, or a stray one in a quoted field, is
	// text (LazyQuotes), not an error.
	res := readCSV(t, "Email,Last Name\na@x.io,O\"Brien\nb@x.io,\"Say \"\"hi\"\"\"\nc@x.io,\"Dee\"Dee\n")
	require.NoError(t, res.err)
	require.Len(t, res.rows, 3)
	assert.Equal(t, `O"Brien`, res.rows[0].LastName)
	assert.Equal(t, `Say "hi"`, res.rows[1].LastName)
	assert.Equal(t, `Dee"Dee`, res.rows[2].LastName)
	for _, r := range res.rows {
		assert.Empty(t, r.Errors)
	}

	// A quote that never closes takes the rest of the file into one field:
	// a ragged last row, not a crash.
	res = readCSV(t, "Email,Last Name\na@x.io,\"Unclosed\nb@x.io,Bee\n")
	require.NoError(t, res.err)
	require.Len(t, res.rows, 1)
	assert.Equal(t, "Unclosed\nb@x.io,Bee", res.rows[0].LastName)
}

func TestCSVEmptyInputs(t *testing.T) {
	for name, text := range map[string]string{
		"nothing":      "",
		"BOM only":     "\xEF\xBB\xBF",
		"blank lines":  "\n\r\n   \n",
		"empty fields": ",,,\n , ,\n",
		"sep only":     "sep=;\n",
	} {
		t.Run(name, func(t *testing.T) {
			requireFileErr(t, readCSV(t, text).err, ErrEmpty)
		})
	}
	t.Run("header only", func(t *testing.T) {
		res := readCSV(t, "Email\n")
		require.NoError(t, res.err)
		assert.Empty(t, res.rows)
		assert.True(t, res.rd.Progress().Done)
	})
}

func TestCSVSizeBounds(t *testing.T) {
	t.Run("input bound", func(t *testing.T) {
		text := "Email\n" + strings.Repeat("a@x.io\n", 100) // 706 bytes
		lim := Limits{MaxBytes: int64(len(text))}
		res := readCSV(t, text, ReadOptions{Limits: lim})
		require.NoError(t, res.err, "exactly MaxBytes is allowed")
		assert.Len(t, res.rows, 100)

		lim.MaxBytes--
		// Without a known size the bound is found while reading...
		_, err := io.ReadAll(io.LimitReader(strings.NewReader(text), 0))
		require.NoError(t, err)
		rd, err := NewReader(context.Background(), io.MultiReader(strings.NewReader(text)), ReadOptions{Format: FormatCSV, Limits: lim})
		require.NoError(t, err)
		defer rd.Close()
		var n int
		for {
			_, err = rd.Next(context.Background())
			if err != nil {
				break
			}
			n++
		}
		fe := requireFileErr(t, err, ErrTooLarge)
		assert.Contains(t, fe.Error(), "larger than 705 bytes")
		assert.Less(t, n, 100)
		// ...and with a known size, at once.
		requireFileErr(t, readCSV(t, text, ReadOptions{Limits: lim}).err, ErrTooLarge)
	})
	t.Run("row bound", func(t *testing.T) {
		text := "Email\na@x.io\n\nb@x.io\n,\nc@x.io\n"
		res := readCSV(t, text, ReadOptions{Limits: Limits{MaxRows: 3}})
		require.NoError(t, res.err)
		assert.Len(t, res.rows, 3)
		res = readCSV(t, text+"d@x.io\n", ReadOptions{Limits: Limits{MaxRows: 3}})
		fe := requireFileErr(t, res.err, ErrTooManyRows)
		assert.Equal(t, 7, fe.Line)
		assert.Len(t, res.rows, 3)
	})
	t.Run("record bound", func(t *testing.T) {
		lim := Limits{MaxRecordBytes: 64}
		ok := "Email,Notes\n" + "a@x.io," + strings.Repeat("n", 64-len("a@x.io,\n")) + "\n" + "b@x.io,\n"
		res := readCSV(t, ok, ReadOptions{Limits: lim})
		require.NoError(t, res.err)
		assert.Len(t, res.rows, 2)

		tooLong := "Email,Notes\n" + "a@x.io,ok\n" + "b@x.io," + strings.Repeat("n", 64) + "\nc@x.io,\n"
		res = readCSV(t, tooLong, ReadOptions{Limits: lim})
		fe := requireFileErr(t, res.err, ErrTooLarge)
		assert.Equal(t, 3, fe.Line)
		assert.Len(t, res.rows, 1)

		longHeader := "Email," + strings.Repeat("h", 64) + "\na@x.io,x\n"
		requireFileErr(t, readCSV(t, longHeader, ReadOptions{Limits: lim}).err, ErrTooLarge)
	})
}

// endless yields a CSV header, one record start, then 'x' without end: a
// field of unbounded length.
type endless struct {
	head string
	left int64
}

func (e *endless) Read(p []byte) (int, error) {
	if e.head != "" {
		n := copy(p, e.head)
		e.head = e.head[n:]
		return n, nil
	}
	if e.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), e.left)
	for i := range p[:n] {
		p[i] = 'x'
	}
	e.left -= n
	return int(n), nil
}

// A 10 MB cell is refused without being buffered: memory allocated while
// reading it stays a small multiple of MaxRecordBytes.
func TestCSVHugeCellIsNotBuffered(t *testing.T) {
	for _, quoted := range []bool{false, true} {
		head := "Email,Notes\na@x.io,ok\nb@x.io,"
		if quoted {
			head += `"`
		}
		src := &endless{head: head, left: 10 << 20}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		rd, err := NewReader(context.Background(), src, ReadOptions{Format: FormatCSV})
		require.NoError(t, err)
		row, err := rd.Next(context.Background())
		require.NoError(t, err)
		assert.Equal(t, "a@x.io", row.Email)
		_, err = rd.Next(context.Background())
		runtime.ReadMemStats(&after)
		fe := requireFileErr(t, err, ErrTooLarge)
		assert.Equal(t, 3, fe.Line)
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("quoted=%v: allocated %d KiB reading up to a 10 MiB cell", quoted, alloc>>10)
		assert.Less(t, alloc, uint64(8*DefaultMaxRecordBytes), "allocated %d bytes", alloc)
		assert.Greater(t, src.left, int64(10<<20-2*DefaultMaxRecordBytes), "the reader stopped early")
		require.NoError(t, rd.Close())
	}
}

func TestCSVHeaderProblems(t *testing.T) {
	t.Run("no email column", func(t *testing.T) {
		fe := requireFileErr(t, readCSV(t, "Name,Mail Adress,Phone\nx,y,z\n").err, ErrNoEmailColumn)
		assert.Equal(t, 1, fe.Line)
		assert.Equal(t, `bulk: the header row has no email column (at line 1): the headers found are "Name", "Mail Adress", "Phone"`, fe.Error())
	})
	t.Run("duplicate column", func(t *testing.T) {
		fe := requireFileErr(t, readCSV(t, "\nEmail,Name,E-Mail\n").err, ErrDuplicateColumn)
		assert.Equal(t, `bulk: two columns mean the same field (at line 2): columns 1 ("Email") and 3 ("E-Mail") both mean Email`, fe.Error())
	})
	t.Run("duplicate unknown columns are fine", func(t *testing.T) {
		res := readCSV(t, "Email,Notes,Notes,\na,b,c,d\n")
		require.NoError(t, res.err)
		assert.Equal(t, []Column{{2, "Notes", FieldUnknown}, {3, "Notes", FieldUnknown}, {4, "", FieldUnknown}}, res.rd.Unknown())
	})
}

func TestCSVContextAndProgress(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("Email\n")
	for range 10_000 {
		b.WriteString("someone@example.com\n")
	}
	rd, err := NewReader(context.Background(), bytes.NewReader(b.Bytes()), ReadOptions{})
	require.NoError(t, err)
	defer rd.Close()
	p := rd.Progress()
	assert.Equal(t, int64(b.Len()), p.TotalBytes)
	assert.Zero(t, p.Rows)

	ctx, cancel := context.WithCancel(context.Background())
	for range 5000 {
		_, err := rd.Next(ctx)
		require.NoError(t, err)
	}
	p = rd.Progress()
	assert.Equal(t, 5000, p.Rows)
	assert.False(t, p.Done)
	assert.Equal(t, int64(len("Email\n")+5000*len("someone@example.com\n")), p.Bytes)
	assert.InDelta(t, 10_000, p.EstimatedRows, 10)

	cancel()
	_, err = rd.Next(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	// Reading goes on with a live context.
	n := 5000
	for _, err := range rd.All(context.Background()) {
		require.NoError(t, err)
		n++
	}
	assert.Equal(t, 10_000, n)
	p = rd.Progress()
	assert.True(t, p.Done)
	assert.Equal(t, 10_000, p.EstimatedRows)
	_, err = rd.Next(context.Background())
	assert.Equal(t, io.EOF, err, "EOF again")
}

// Progress may be read from another goroutine while Next runs (run with
// -race).
func TestProgressConcurrently(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("Email\n")
	for range 2000 {
		b.WriteString("someone@example.com\n")
	}
	rd, err := NewReader(context.Background(), bytes.NewReader(b.Bytes()), ReadOptions{})
	require.NoError(t, err)
	defer rd.Close()
	done := make(chan struct{})
	seen := make(chan int)
	go func() {
		last := 0
		for {
			select {
			case <-done:
				seen <- last
				return
			default:
				p := rd.Progress()
				if p.Rows < last {
					panic("progress went back")
				}
				last = p.Rows
			}
		}
	}()
	n := 0
	for _, err := range rd.All(context.Background()) {
		require.NoError(t, err)
		n++
	}
	close(done)
	assert.Equal(t, 2000, n)
	assert.LessOrEqual(t, <-seen, 2000)
}
