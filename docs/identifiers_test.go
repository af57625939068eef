package docs_test

import (
	"go/ast"
	"path"
	"regexp"
	"strings"
	"testing"
)

// TestNamedIdentifiersExist: every Go identifier a page names in code
// spans, as pkg.Name, pkg.Type.Member or Type.Member of one of the
// module's packages, is declared there, so that a rename in the code
// fails here instead of leaving the pages behind.
func TestNamedIdentifiersExist(t *testing.T) {
	t.Parallel()
	decls := declarations(t)
	types := map[string][]map[string]bool{} // type name -> members, per package declaring it
	for _, pkg := range decls {
		for name, members := range pkg {
			if members != nil {
				types[name] = append(types[name], members)
			}
		}
	}
	qualified := regexp.MustCompile(`(?:^|[^\w.])([a-z][a-z0-9]*)\.([A-Z]\w*)(?:\.([A-Z]\w*))?`)
	member := regexp.MustCompile(`(?:^|[^\w.])([A-Z]\w*)\.([A-Z]\w*)`)
	checked := 0
	for _, rel := range pageFiles(t) {
		for _, span := range codeSpans(readPage(t, rel)) {
			for _, m := range qualified.FindAllStringSubmatch(span, -1) {
				pkg, ok := decls[m[1]]
				if !ok {
					continue // another module's package: asynq.SkipRetry
				}
				checked++
				members, declared := pkg[m[2]]
				switch {
				case !declared:
					t.Errorf("%s: `%s` names %s.%s, which package %s does not declare", rel, span, m[1], m[2], m[1])
				case m[3] != "" && !members[m[3]]:
					t.Errorf("%s: `%s` names %s.%s.%s, which %s.%s does not have", rel, span, m[1], m[2], m[3], m[1], m[2])
				}
			}
			for _, m := range member.FindAllStringSubmatch(span, -1) {
				candidates, ok := types[m[1]]
				if !ok {
					continue // not one of our types: Inspector.GetQueueInfo
				}
				checked++
				found := false
				for _, members := range candidates {
					found = found || members[m[2]]
				}
				if !found {
					t.Errorf("%s: `%s` names %s.%s, which no type %s of the module has", rel, span, m[1], m[2], m[1])
				}
			}
		}
	}
	if checked < 50 {
		t.Fatalf("only %d identifiers checked: the scan is broken", checked)
	}
}

// declarations returns the exported top-level names of the module's
// importable packages (not internal, not main), by package name; a type's
// entry holds its fields and methods (those of an interface too), any
// other name's is nil.
func declarations(t *testing.T) map[string]map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]map[string]bool{}
	for _, f := range goFiles(t, false) {
		name := f.file.Name.Name
		if name == "main" || strings.HasPrefix(f.dir, "internal") || strings.Contains(f.dir, "/internal") {
			continue
		}
		pkg := out[name]
		if pkg == nil {
			pkg = map[string]map[string]bool{}
			out[name] = pkg
		}
		typ := func(n string) map[string]bool {
			if pkg[n] == nil {
				pkg[n] = map[string]bool{}
			}
			return pkg[n]
		}
		for _, decl := range f.file.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					if ast.IsExported(d.Name.Name) {
						if _, ok := pkg[d.Name.Name]; !ok {
							pkg[d.Name.Name] = nil
						}
					}
					continue
				}
				if recv := receiverType(d.Recv.List[0].Type); recv != "" {
					typ(recv)[d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						members := typ(s.Name.Name)
						switch ty := s.Type.(type) {
						case *ast.StructType:
							for _, field := range ty.Fields.List {
								for _, n := range field.Names {
									members[n.Name] = true
								}
								if len(field.Names) == 0 { // embedded
									members[receiverType(field.Type)] = true
								}
							}
						case *ast.InterfaceType:
							for _, m := range ty.Methods.List {
								for _, n := range m.Names {
									members[n.Name] = true
								}
							}
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if ast.IsExported(n.Name) {
								if _, ok := pkg[n.Name]; !ok {
									pkg[n.Name] = nil
								}
							}
						}
					}
				}
			}
		}
	}
	for _, want := range []string{"job", "runner", "lockstore", "resilience", "schedule", "setup", "enqueue"} {
		if len(out[want]) == 0 {
			t.Fatalf("no declarations found for package %s", want)
		}
	}
	return out
}

// receiverType returns the type name of a receiver or embedded field:
// T for T, *T, T[P] and pkg.T.
func receiverType(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.StarExpr:
		return receiverType(x.X)
	case *ast.IndexExpr:
		return receiverType(x.X)
	case *ast.IndexListExpr:
		return receiverType(x.X)
	case *ast.SelectorExpr:
		return x.Sel.Name
	case *ast.Ident:
		return x.Name
	}
	return ""
}

// TestNamedTestsExist: every test, benchmark or fuzz target a page names
// exists, and every go test command a page gives (-run, -bench, -fuzz with
// a package path) selects at least one function of that package, so that
// a measured figure keeps the command that reproduces it.
func TestNamedTestsExist(t *testing.T) {
	t.Parallel()
	funcs := map[string][]string{} // package dir -> Test/Benchmark/Fuzz/Example names
	var all []string
	for _, f := range goFiles(t, true) {
		for _, decl := range f.file.Decls {
			if fd, ok := decl.(*ast.FuncDecl); ok && fd.Recv == nil && testFunc.MatchString(fd.Name.Name) {
				funcs[f.dir] = append(funcs[f.dir], fd.Name.Name)
				all = append(all, fd.Name.Name)
			}
		}
	}
	named := regexp.MustCompile(`^(Test|Benchmark|Fuzz)[A-Z_]\S*$`)
	checked := 0
	for _, rel := range pageFiles(t) {
		text := readPage(t, rel)
		spans := codeSpans(text)
		for _, span := range spans {
			if named.MatchString(span) {
				checked++
				if !anyMatch(t, span, all) {
					t.Errorf("%s: `%s` names no test, benchmark or fuzz target of the module", rel, span)
				}
			}
		}
		commands := spans
		for _, b := range parse(text).blocks {
			commands = append(commands, b.body...)
		}
		for _, c := range commands {
			args := shellWords(c)
			var pkgs []string
			for _, a := range args {
				if strings.HasPrefix(a, "./") && !strings.HasSuffix(a, "...") {
					pkgs = append(pkgs, strings.TrimSuffix(path.Clean(a), "/"))
				}
			}
			for i := 0; i+1 < len(args); i++ {
				kind := map[string]string{"-run": "", "-bench": "Benchmark", "-fuzz": "Fuzz"}
				prefix, ok := kind[args[i]]
				if !ok || args[i+1] == "^$" {
					continue
				}
				first := topLevelSplit(args[i+1])
				scopes := pkgs
				if len(scopes) == 0 {
					scopes = []string{""} // a command cut short: any package
				}
				for _, pkg := range scopes {
					checked++
					var names []string
					candidates := funcs[pkg]
					if pkg == "" {
						candidates = all
					}
					for _, n := range candidates {
						if strings.HasPrefix(n, prefix) {
							names = append(names, n)
						}
					}
					if !anyMatch(t, first, names) {
						t.Errorf("%s: `%s`: %s %s selects nothing in %q", rel, c, args[i], args[i+1], pkg)
					}
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d tests and commands checked: the scan is broken", checked)
	}
}

var testFunc = regexp.MustCompile(`^(Test|Benchmark|Fuzz|Example)`)

// anyMatch reports whether the regular expression expr matches one of
// names, as go test matches them.
func anyMatch(t *testing.T, expr string, names []string) bool {
	t.Helper()
	re, err := regexp.Compile(expr)
	if err != nil {
		t.Errorf("%q is not a regular expression: %v", expr, err)
		return true
	}
	for _, n := range names {
		if re.MatchString(n) {
			return true
		}
	}
	return false
}

// topLevelSplit returns the part of a -run or -bench pattern before its
// first slash outside brackets and parentheses: the top-level name.
func topLevelSplit(p string) string {
	depth := 0
	for i, r := range p {
		switch r {
		case '(', '[':
			depth++
		case ')', ']':
			depth--
		case '/':
			if depth == 0 {
				return p[:i]
			}
		}
	}
	return p
}

// shellWords splits a command line at spaces outside single quotes, and
// drops the quotes.
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, inWord := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted, inWord = !quoted, true
		case (r == ' ' || r == '\t' || r == '\n') && !quoted:
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}
