package setup

import (
	"runtime/debug"
	"testing"
)

func TestVersionOf(t *testing.T) {
	t.Parallel()
	vcs := func(kv ...string) []debug.BuildSetting {
		var out []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			out = append(out, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	for _, tt := range []struct {
		bi   debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"},
			Settings: vcs("vcs.revision", "7c73c12abcdef0123456789", "vcs.time", "2026-12-07T03:13:03Z", "vcs.modified", "false")},
			"v1.4.0 (commit 7c73c12abcde, 2026-12-07T03:13:03Z) go1.26.8"},
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261207031303-7c73c12abcde+dirty"},
			Settings: vcs("vcs.revision", "7c73c12abcdef0123456789", "vcs.modified", "true")},
			"v0.0.0-20261207031303-7c73c12abcde+dirty (commit 7c73c12abcde, modified) go1.26.8"},
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs("-buildvcs", "false")},
			"(devel) (commit unknown) go1.26.8"},
		{debug.BuildInfo{GoVersion: "go1.26.8"}, "(devel) (commit unknown) go1.26.8"},
	} {
		if got := versionOf(&tt.bi); got != tt.want {
			t.Errorf("versionOf = %q, want %q", got, tt.want)
		}
	}
}
