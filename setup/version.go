package setup

import (
	"cmp"
	"fmt"
	"runtime/debug"
)

// Version describes the running binary from the build information Go
// stamps into it: the main module's version ("(devel)" for a plain go build
// outside a module cache, a pseudo-version such as
// v0.0.0-20261207031303-7c73c12abcde+dirty with Go 1.24+ in a git
// checkout), the commit it was built from and whether the tree had
// uncommitted changes, and the Go version:
//
//	v1.4.0 (commit 7c73c12abcde, 2026-12-07T03:13:03Z) go1.26.8
//	v0.0.0-20261207031303-7c73c12abcde+dirty (commit 7c73c12abcde, 2026-12-07T03:13:03Z, modified) go1.26.8
//
// A binary built without VCS stamping (go build -buildvcs=false, go run,
// a tree without git) says "commit unknown".
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build information)"
	}
	return versionOf(bi)
}

func versionOf(bi *debug.BuildInfo) string {
	vcs := map[string]string{}
	for _, s := range bi.Settings {
		vcs[s.Key] = s.Value
	}
	commit := "commit unknown"
	if rev := vcs["vcs.revision"]; rev != "" {
		commit = "commit " + rev[:min(len(rev), 12)]
		if t := vcs["vcs.time"]; t != "" {
			commit += ", " + t
		}
		if vcs["vcs.modified"] == "true" {
			commit += ", modified"
		}
	}
	return fmt.Sprintf("%s (%s) %s", cmp.Or(bi.Main.Version, "(devel)"), commit, bi.GoVersion)
}
