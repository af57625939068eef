package main

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/jobrunner/jobrunner/enqueue"
	"github.com/jobrunner/jobrunner/setup"
)

// TestComposeAPIService checks the api service of docker-compose.yml
// (Docker is not needed): it runs enqueue serve on every interface of the
// container, so with tokens (the default one long enough for the server to
// accept), published on the host's loopback only; its Redis URL parses;
// webhooks may not reach private ranges; and its stop_grace_period covers
// the server's shutdown timeout.
func TestComposeAPIService(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Entrypoint []string          `json:"entrypoint"`
			Env        map[string]string `json:"environment"`
			Ports      []string          `json:"ports"`
			StopGrace  string            `json:"stop_grace_period"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	api, ok := f.Services["api"]
	if !ok {
		t.Fatal("no api service")
	}
	if !slices.Equal(api.Entrypoint, []string{"/usr/local/bin/enqueue", "serve"}) {
		t.Errorf("entrypoint %q, want enqueue serve", api.Entrypoint)
	}
	if addr := api.Env[enqueue.APIAddrEnv]; !strings.HasPrefix(addr, ":") {
		t.Errorf("%s = %q: the container must listen beyond loopback for the port to be published", enqueue.APIAddrEnv, addr)
	}
	tokens := api.Env[enqueue.TokensEnv]
	def, found := strings.CutPrefix(tokens, "${"+enqueue.TokensEnv+":-")
	if !found || !strings.HasSuffix(def, "}") || len(strings.TrimSuffix(def, "}")) < 16 {
		t.Errorf("%s = %q: want ${%[1]s:-DEFAULT} with a default of at least 16 characters", enqueue.TokensEnv, tokens)
	}
	if len(api.Ports) != 1 || !strings.HasPrefix(api.Ports[0], "127.0.0.1:") {
		t.Errorf("ports %q: publish on the host's loopback only", api.Ports)
	}
	if _, err := setup.ParseRedisURL(api.Env["REDIS_URL"]); err != nil {
		t.Errorf("REDIS_URL: %v", err)
	}
	if api.Env["WEBHOOK_DENY_PRIVATE"] != "true" {
		t.Errorf("WEBHOOK_DENY_PRIVATE = %q, want true", api.Env["WEBHOOK_DENY_PRIVATE"])
	}
	grace, err := time.ParseDuration(api.StopGrace)
	if err != nil || grace < enqueue.APIShutdownTimeoutDefault+2*time.Second {
		t.Errorf("stop_grace_period %q (%v): want at least the shutdown timeout %v + 2s", api.StopGrace, err, enqueue.APIShutdownTimeoutDefault)
	}
}
