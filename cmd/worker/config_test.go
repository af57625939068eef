package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestConfigDefaults(t *testing.T) {
	c, err := loadConfig(nil, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Concurrency != 10 || c.Queues["default"] != 1 || len(c.Queues) != 1 || c.ShutdownTimeout != 25*time.Second ||
		c.HTTPAddr != ":9090" || c.PollInterval != 50*time.Millisecond || c.LogLevel != "info" || c.LogFormat != "json" ||
		c.RedisURL != "" || c.WebhookDenyPrivate || c.MaxDeferral != 24*time.Hour {
		t.Fatalf("defaults = %+v", c)
	}
	if c.RetryBackoff == nil || c.RetryBackoff(0, nil) < 15*time.Second {
		t.Fatalf("default retry schedule is not the long one: first retry after %v", c.RetryBackoff(0, nil))
	}
}

func TestConfigFlagsOverrideEnv(t *testing.T) {
	c, err := loadConfig([]string{"-concurrency", "3"}, env(map[string]string{
		"WORKER_CONCURRENCY": "7", "WORKER_QUEUES": "critical=6,default=3,low=1", "LOG_FORMAT": "console",
	}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Concurrency != 3 || c.Queues["critical"] != 6 || c.Queues["low"] != 1 || c.LogFormat != "console" {
		t.Fatalf("config = %+v", c)
	}
	c, err = loadConfig([]string{"-retry-schedule", "short"}, env(map[string]string{"WORKER_MAX_DEFERRAL": "90m"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxDeferral != 90*time.Minute || c.RetryBackoff(0, nil) > time.Second {
		t.Fatalf("max deferral %v, first short retry after %v", c.MaxDeferral, c.RetryBackoff(0, nil))
	}
	c, err = loadConfig(nil, env(map[string]string{
		"WORKER_DEPENDENCY_LIMITS": "payment-api=concurrency:10,rate:100/s; 127.0.0.1:8080=rate:5/s,burst:5;",
		"WORKER_SHARED_BREAKERS":   "payment-api, 127.0.0.1:8080",
	}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	pa, hook := c.Limits["payment-api"], c.Limits["127.0.0.1:8080"]
	if len(c.Limits) != 2 || pa.Concurrency != 10 || pa.Rate.N != 100 || pa.Rate.Per != time.Second ||
		hook.Concurrency != 0 || hook.Rate.N != 5 || hook.Rate.Burst != 5 {
		t.Fatalf("limits = %+v", c.Limits)
	}
	if len(c.SharedBreakers) != 2 || c.SharedBreakers[1] != "127.0.0.1:8080" {
		t.Fatalf("shared breakers = %v", c.SharedBreakers)
	}
}

func TestConfigTrimsSpaces(t *testing.T) {
	c, err := loadConfig(nil, env(map[string]string{
		"WORKER_QUEUES": " a = 1 , b=2 ", "WORKER_CONCURRENCY": " 10000 ",
	}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Queues) != 2 || c.Queues["a"] != 1 || c.Queues["b"] != 2 || c.Concurrency != 10000 {
		t.Fatalf("config = %+v", c)
	}
}

func TestConfigErrorsExit2(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, map[string]string{"WORKER_CONCURRENCY": "ten"}, `worker: WORKER_CONCURRENCY="ten": want an integer from 1 to 10000`},
		{nil, map[string]string{"WORKER_CONCURRENCY": "0"}, `worker: WORKER_CONCURRENCY="0": want an integer from 1 to 10000`},
		{nil, map[string]string{"WORKER_CONCURRENCY": "100000000"}, `worker: WORKER_CONCURRENCY="100000000": want an integer from 1 to 10000`},
		{[]string{"-concurrency", "-2"}, nil, `worker: -concurrency="-2": want an integer from 1 to 10000`},
		{nil, map[string]string{"WORKER_QUEUES": "critical=6,default"}, `worker: WORKER_QUEUES="critical=6,default": want name=priority`},
		{nil, map[string]string{"WORKER_QUEUES": "a=1,a=2"}, `worker: WORKER_QUEUES="a=1,a=2": queue "a" listed twice`},
		{nil, map[string]string{"WORKER_SHUTDOWN_TIMEOUT": "25"}, `worker: WORKER_SHUTDOWN_TIMEOUT="25": want a positive duration`},
		{nil, map[string]string{"WORKER_POLL_INTERVAL": "-1s"}, `worker: WORKER_POLL_INTERVAL="-1s": want a positive duration`},
		{nil, map[string]string{"WORKER_HTTP_ADDR": "9090"}, `worker: WORKER_HTTP_ADDR="9090": want host:port or :port`},
		{nil, map[string]string{"LOG_LEVEL": "loud"}, `worker: LOG_LEVEL="loud": want trace, debug, info, warn or error`},
		{nil, map[string]string{"LOG_FORMAT": "xml"}, `worker: LOG_FORMAT="xml": want json or console`},
		{nil, map[string]string{"WORKER_RETRY_SCHEDULE": "forever"}, `worker: WORKER_RETRY_SCHEDULE="forever": want long or short`},
		{nil, map[string]string{"WORKER_MAX_DEFERRAL": "1d"}, `worker: WORKER_MAX_DEFERRAL="1d": want a positive duration`},
		{nil, map[string]string{"WORKER_DEPENDENCY_LIMITS": "payment-api=rate:fast"}, `worker: WORKER_DEPENDENCY_LIMITS="payment-api=rate:fast": entry "payment-api=rate:fast": rate "fast": want N/s, N/m or N/h`},
		{nil, map[string]string{"WORKER_DEPENDENCY_LIMITS": "a=concurrency:2;b"}, `worker: WORKER_DEPENDENCY_LIMITS="a=concurrency:2;b": entry "b": want dependency=`},
		{nil, map[string]string{"WORKER_DEPENDENCY_LIMITS": "a=concurrency:0"}, `worker: WORKER_DEPENDENCY_LIMITS="a=concurrency:0": entry "a=concurrency:0": concurrency "0": want an integer >= 1`},
		{nil, map[string]string{"WORKER_DEPENDENCY_LIMITS": "a=burst:5"}, `worker: WORKER_DEPENDENCY_LIMITS="a=burst:5": entry "a=burst:5": burst without a rate`},
		{nil, map[string]string{"WORKER_DEPENDENCY_LIMITS": "a=speed:5"}, `worker: WORKER_DEPENDENCY_LIMITS="a=speed:5": entry "a=speed:5": unknown setting "speed"`},
		{nil, map[string]string{"WORKER_SHARED_BREAKERS": "a,,b"}, `worker: WORKER_SHARED_BREAKERS="a,,b": want dependency names`},
		{nil, map[string]string{"WEBHOOK_DENY_PRIVATE": "maybe"}, `worker: WEBHOOK_DENY_PRIVATE="maybe": want true or false`},
		{nil, map[string]string{"REDIS_URL": "http://h:1"}, `worker: REDIS_URL="http://h:1": scheme "http"; want redis, rediss, redis-sentinel, rediss-sentinel or redis-cluster`},
		{nil, map[string]string{"REDIS_URL": "redis://:s3cret@h:1/notadb"}, `worker: REDIS_URL="redis://:xxxxx@h:1/notadb": `},
		{nil, map[string]string{"REDIS_URL": "redis://u:s3cret@host:notaport"}, `worker: REDIS_URL="redis://u:xxxxx@host:notaport": port "notaport" is not a number`},
		{[]string{"extra"}, nil, `worker: unexpected argument "extra"`},
		{[]string{"-nope"}, nil, `worker: flag provided but not defined: -nope`},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(tt.args, env(tt.env), &out, &errOut, nil)
		if code != 2 {
			t.Errorf("%v %v: exit %d, want 2", tt.args, tt.env, code)
		}
		lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
		last := lines[len(lines)-1]
		if !strings.HasPrefix(last, tt.want) {
			t.Errorf("%v %v: stderr last line %q, want prefix %q", tt.args, tt.env, last, tt.want)
		}
		if strings.Contains(errOut.String(), "s3cret") {
			t.Errorf("password leaked: %q", errOut.String())
		}
	}
}

// TestConfigRefusesURLWithoutHostAndTinyPoll checks loadConfig only: were
// these values accepted, run would start a worker on the Redis at
// 127.0.0.1:6379, which tests must never touch. TestBadSettingsExit2 runs
// the binary on the cases that are safe to run.
func TestConfigRefusesURLWithoutHostAndTinyPoll(t *testing.T) {
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, map[string]string{"WORKER_POLL_INTERVAL": "1ns"}, `WORKER_POLL_INTERVAL="1ns": want at least 10ms`},
		{[]string{"-poll-interval", "9ms"}, nil, `-poll-interval="9ms": want at least 10ms`},
		{nil, map[string]string{"REDIS_URL": "redis-sentinel://?master=mm"}, `REDIS_URL="redis-sentinel://?master=mm": no host; want redis-sentinel://host:port[,host:port]?master=NAME`},
		{nil, map[string]string{"REDIS_URL": "redis-cluster://"}, `REDIS_URL="redis-cluster://": no host; want redis-cluster://host:port[?addr=host:port]`},
		{nil, map[string]string{"REDIS_URL": "redis://:s3cret@/0"}, `REDIS_URL="redis://:xxxxx@/0": no host; want redis://host:port`},
	} {
		_, err := loadConfig(tt.args, env(tt.env), &bytes.Buffer{})
		var ce *configError
		if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%v %v: %v; want a configError %q", tt.args, tt.env, err, tt.want)
		}
	}
}
