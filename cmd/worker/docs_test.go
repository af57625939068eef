package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// configPage is the page that lists the worker's settings.
const configPage = "../../docs/configuration.md"

// TestConfigurationPageListsEverySetting: the configuration page's table of
// worker settings has a row for every flag of `worker -h` that has an
// environment variable, with that variable and its default, and no other
// rows; the flags without a variable (-version) are named on the page too.
// The module's other variables are checked in package docs.
func TestConfigurationPageListsEverySetting(t *testing.T) {
	t.Parallel()
	type setting struct{ env, def string }
	var help bytes.Buffer
	if _, err := loadConfig([]string{"-h"}, func(string) string { return "" }, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("worker -h: %v", err)
	}
	code := map[string]setting{}
	var bare []string
	usage := regexp.MustCompile(`(?m)^  -([a-z-]+)(?: \w+)?\n\s+(.*)$`)
	envDef := regexp.MustCompile(`\(env ([A-Z_]+), default "([^"]*)"\)$`)
	for _, m := range usage.FindAllStringSubmatch(help.String(), -1) {
		if e := envDef.FindStringSubmatch(m[2]); e != nil {
			code[m[1]] = setting{e[1], e[2]}
		} else {
			bare = append(bare, m[1])
		}
	}
	if len(code) < 10 {
		t.Fatalf("only %d settings in worker -h:\n%s", len(code), help.String())
	}

	raw, err := os.ReadFile(filepath.FromSlash(configPage))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	span := regexp.MustCompile("`([^`]*)`")
	const head = "| Variable | Flag | Default | Meaning |"
	_, table, ok := strings.Cut(text, head)
	if !ok {
		t.Fatalf("%s has no table headed %q", configPage, head)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(table, "\n")[2:] {
		if !strings.HasPrefix(line, "| ") {
			break
		}
		cells := strings.Split(line, " | ")
		env := span.FindStringSubmatch(cells[0])
		fl := span.FindStringSubmatch(cells[1])
		if env == nil || fl == nil {
			t.Errorf("%s: row %q: want a variable and a flag", configPage, line)
			continue
		}
		name := strings.TrimPrefix(fl[1], "-")
		listed[name] = true
		s, ok := code[name]
		switch {
		case !ok:
			t.Errorf("%s lists flag %s (%s), which worker -h does not have", configPage, fl[1], env[1])
			continue
		case s.env != env[1]:
			t.Errorf("%s pairs -%s with %s; worker -h with %s", configPage, name, env[1], s.env)
		}
		def := strings.TrimSpace(cells[2])
		d := span.FindStringSubmatch(def)
		switch {
		case s.def == "" && d != nil:
			t.Errorf("%s: %s has no default in the code, the page says %s", configPage, s.env, def)
		case s.def != "" && (d == nil || !sameValue(d[1], s.def)):
			t.Errorf("%s: %s defaults to %q in the code, the page says %s", configPage, s.env, s.def, def)
		}
	}
	for name, s := range code {
		if !listed[name] {
			t.Errorf("setting %s (-%s) is missing from the table of worker settings in %s", s.env, name, configPage)
		}
	}
	for _, name := range bare {
		if !strings.Contains(text, "`-"+name+"`") {
			t.Errorf("flag -%s of worker -h is not named on %s", name, configPage)
		}
	}
}

// sameValue compares a documented default with the code's, as durations
// when both are (24h is 24h0m0s).
func sameValue(page, code string) bool {
	if page == code {
		return true
	}
	a, errA := time.ParseDuration(page)
	b, errB := time.ParseDuration(code)
	return errA == nil && errB == nil && a == b
}
