package docs_test

import (
	"bytes"
	"context"
	"go/ast"
	"go/token"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jobrunner/jobrunner/enqueue"
	"github.com/jobrunner/jobrunner/internal/tracectx"
	"github.com/jobrunner/jobrunner/setup/otlp"
)

const (
	configPage = "docs/configuration.md"
	cliPage    = "docs/enqueue-cli.md"
)

// envName is what an environment variable's name looks like.
var envName = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$`)

// system are the operating system's variables the test harnesses pass on
// to the processes they start: not settings of ours.
var system = map[string]bool{"PATH": true, "HOME": true}

// TestConfigurationPageListsEveryVariable: every environment variable the
// module's code reads is in a table of the configuration page, and every
// variable in its tables headed "| Variable | Meaning |" is read by the
// code. (The worker's settings table, headed "| Variable | Flag |", is
// checked both ways against the worker's flags in cmd/worker; the
// variables the OpenTelemetry SDK reads by itself are in a table of their
// own, "| SDK variable |", which no code of ours can confirm.)
func TestConfigurationPageListsEveryVariable(t *testing.T) {
	t.Parallel()
	code := codeVariables(t)
	text := readPage(t, configPage)
	listed := map[string]bool{}
	for _, head := range []string{"| Variable |", "| SDK variable |"} {
		for _, row := range tableRows(text, head) {
			for _, v := range spansIn(row[0]) {
				listed[v] = true
			}
		}
	}
	for _, v := range sortedKeys(code) {
		if !listed[v] {
			t.Errorf("%s (read in %s) is missing from the tables of %s", v, code[v], configPage)
		}
	}
	others := tableRows(text, "| Variable | Meaning |")
	if len(others) < 10 {
		t.Fatalf("%s: only %d rows in the tables headed \"| Variable | Meaning |\"", configPage, len(others))
	}
	for _, row := range others {
		for _, v := range spansIn(row[0]) {
			if code[v] == "" {
				t.Errorf("%s lists %s, which no code reads", configPage, v)
			}
		}
	}
}

// codeVariables returns the environment variables the module reads, each
// with where: the string literals and constants (of the package or, as
// pkg.Name, of another) passed to a function named Getenv, LookupEnv,
// getenv or get in a non-test file, and the names that
// the functions which take a getenv ask it for (their names are built in
// loops and from parts, which no scan of literals finds). The worker's
// settings table (cmd/worker/config.go) is checked in cmd/worker.
func codeVariables(t *testing.T) map[string]string {
	t.Helper()
	vars := map[string]string{}
	files := goFiles(t, false)
	consts := stringConsts(files)
	byPackage := map[string]map[string]string{} // package name -> constant -> value, for pkg.Name arguments
	for _, f := range files {
		if c := consts[f.dir]; c != nil {
			byPackage[f.file.Name.Name] = c
		}
	}
	for _, f := range files {
		// Test programs under internal/ (the fault suite's testworker):
		// their environment is set by their harness, not by users.
		if f.file.Name.Name == "main" && strings.HasPrefix(f.dir, "internal/") {
			continue
		}
		ast.Inspect(f.file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			switch callName(call) {
			case "Getenv", "LookupEnv", "getenv", "get":
			default:
				return true
			}
			name := stringLit(call.Args[0])
			switch arg := call.Args[0].(type) {
			case *ast.Ident:
				name = consts[f.dir][arg.Name]
			case *ast.SelectorExpr: // another package's constant: fleet.QueuesEnv
				if pkg, ok := arg.X.(*ast.Ident); ok {
					name = byPackage[pkg.Name][arg.Sel.Name]
				}
			}
			if envName.MatchString(name) && !system[name] {
				vars[name] = f.rel
			}
			return true
		})
	}

	var mu sync.Mutex
	record := func(where string, values map[string]string) func(string) string {
		return func(name string) string {
			mu.Lock()
			vars[name] = where
			mu.Unlock()
			return values[name]
		}
	}
	// The OTLP checks read every variable they check before they refuse
	// the grpc protocol, so nothing is built or set globally.
	_, err := otlp.TracerProvider(context.Background(), record("setup/otlp", map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
	}), "docs")
	if err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_PROTOCOL") {
		t.Fatalf("otlp.TracerProvider with the grpc protocol: %v; want the protocol refused", err)
	}
	otlp.HeaderSecrets(record("setup/otlp", nil))
	tracectx.FromEnv(context.Background(), record("internal/tracectx", nil))
	if len(vars) < 30 {
		t.Fatalf("only %d variables found: the scan is broken", len(vars))
	}
	return vars
}

// TestCLIPageListsEveryFlag: the enqueue CLI's page lists exactly the flags
// its --help prints, and every --flag the page mentions exists.
func TestCLIPageListsEveryFlag(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := enqueue.Main(context.Background(), enqueue.Config{}, []string{"--help"}, strings.NewReader(""), &out, &errOut, func(string) string { return "" }); code != 0 {
		t.Fatalf("enqueue --help: exit %d: %s", code, errOut.String())
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z][a-z-]*)`).FindAllStringSubmatch(out.String(), -1) {
		flags[m[1]] = true
	}
	if len(flags) < 15 {
		t.Fatalf("only %d flags in enqueue --help:\n%s", len(flags), out.String())
	}
	text := readPage(t, cliPage)
	listed := map[string]bool{}
	for _, row := range tableRows(text, "| Flag | Meaning |") {
		for _, s := range spansIn(row[0]) {
			listed[strings.TrimPrefix(s, "--")] = true
		}
	}
	for _, f := range sortedKeys(flags) {
		if !listed[f] {
			t.Errorf("flag --%s is missing from the table of flags in %s", f, cliPage)
		}
	}
	mention := regexp.MustCompile(`(?:^|\s|\[)--([a-z][a-z-]*)`)
	mentions := codeSpans(text)
	for _, b := range parse(text).blocks {
		mentions = append(mentions, b.body...)
	}
	for _, s := range mentions {
		for _, m := range mention.FindAllStringSubmatch(s, -1) {
			if !flags[m[1]] && m[1] != "help" {
				t.Errorf("%s mentions --%s, which enqueue does not accept", cliPage, m[1])
			}
		}
	}
}

// TestCLIPageListsEveryExitStatus: the CLI page's table of exit statuses
// has exactly the values of the enqueue package's Exit constants.
func TestCLIPageListsEveryExitStatus(t *testing.T) {
	t.Parallel()
	code := map[int]string{}
	for _, f := range goFiles(t, false) {
		if f.dir != "enqueue" {
			continue
		}
		for _, decl := range f.file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Exit") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.INT {
						t.Fatalf("enqueue.%s is not an integer literal; teach this test to read it", name.Name)
					}
					n, _ := strconv.Atoi(lit.Value)
					code[n] = name.Name
				}
			}
		}
	}
	if len(code) < 5 {
		t.Fatalf("only %d exit statuses found in package enqueue", len(code))
	}
	listed := map[int]bool{}
	for _, row := range tableRows(readPage(t, cliPage), "| Code | Meaning |") {
		n, err := strconv.Atoi(row[0])
		if err != nil {
			t.Errorf("%s: exit status %q is not a number", cliPage, row[0])
			continue
		}
		listed[n] = true
		if code[n] == "" {
			t.Errorf("%s lists exit status %d, which enqueue does not return", cliPage, n)
		}
	}
	for n, name := range code {
		if !listed[n] {
			t.Errorf("exit status %d (enqueue.%s) is missing from %s", n, name, cliPage)
		}
	}
}
