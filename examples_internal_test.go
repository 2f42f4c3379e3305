package usermgmt_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestExamplesUseNoInternalPackage: the Example functions are documentation
// that readers copy into their own module, where an import of
// usermgmt/internal/... does not compile. A test file holding an Example
// imports nothing internal.
func TestExamplesUseNoInternalPackage(t *testing.T) {
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		hasExample := false
		for _, decl := range f.Decls {
			if fd, ok := decl.(*ast.FuncDecl); ok && fd.Recv == nil && strings.HasPrefix(fd.Name.Name, "Example") {
				hasExample = true
			}
		}
		if !hasExample {
			return nil
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.Contains(p, "/usermgmt/internal/") {
				t.Errorf("%s: a file of Examples imports %s, which readers cannot", path, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
