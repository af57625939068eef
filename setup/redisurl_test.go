package setup_test

import (
	"strings"
	"testing"

	"github.com/jobrunner/jobrunner/setup"
)

func TestParseRedisURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     string
		addrs   string
		db      int
		master  string
		cluster bool
		tls     bool
		err     string
	}{
		{url: "redis://127.0.0.1:6379", addrs: "127.0.0.1:6379"},
		{url: "redis://:pw@h:1/3", addrs: "h:1", db: 3},
		{url: "rediss://user:pw@h:6380", addrs: "h:6380", tls: true},
		{url: "redis-sentinel://:pw@s1:26379,s2:26379?master=mymaster", addrs: "s1:26379,s2:26379", master: "mymaster"},
		{url: "redis-cluster://n1:7000?addr=n2:7000", addrs: "n1:7000,n2:7000", cluster: true},
		{url: "redis://[::1]:6379", addrs: "[::1]:6379"},
		{url: "redis://h", addrs: "h:6379"},
		{url: "http://h:1", err: `scheme "http"`},
		{url: "127.0.0.1:6379", err: "want redis://host:port"},
		{url: "redis://:pw@h:1/x", err: "invalid database"},
		{url: "redis-sentinel://s1:26379", err: "master"},
		{url: "redis://u:pw@host:notaport", err: `port "notaport" is not a number`},
		{url: "redis://host:notaport/0", err: `port "notaport" is not a number`},
		{url: "redis://:pw@[::1]:x", err: `port "x" is not a number`},
		{url: "redis-sentinel://:pw@s1:26379,s2:nope?master=m", err: `port "nope" is not a number`},
		{url: "redis://u:pw@h:99999", err: "port 99999 is out of range"},
		{url: "redis://u:p/w@h:1", err: "must be percent-encoded"},
		{url: "redis://u:pw@h o:1", err: `host "h o"`},
		// No host: go-redis and asynq would dial localhost instead.
		{url: "redis://", err: "no host; want redis://host:port"},
		{url: "redis://:pw@/0", err: "no host; want redis://host:port"},
		{url: "rediss://:6380", err: `no host in ":6380"`},
		{url: "redis-sentinel://?master=mm", err: "no host; want redis-sentinel://host:port[,host:port]?master=NAME"},
		{url: "redis-sentinel://:pw@s1:26379,?master=mm", err: "an empty address in the list of hosts"},
		{url: "redis-sentinel://s1:26379,:26380?master=mm", err: `no host in ":26380"`},
		{url: "redis-cluster://", err: "no host; want redis-cluster://host:port[?addr=host:port]"},
		{url: "redis-cluster://u:pw@?addr=n2:7000", err: "no host; want redis-cluster://"},
		{url: "redis-cluster://n1:7000?addr=", err: "an empty address in the list of hosts"},
		{url: "redis-cluster://n1:7000?addr=:7001", err: `no host in ":7001"`},
	}
	for _, tt := range tests {
		o, err := setup.ParseRedisURL(tt.url)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err = %v, want %q", tt.url, err, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Errorf("%s: password in error %q", tt.url, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.url, err)
			continue
		}
		if got := strings.Join(o.Addrs, ","); got != tt.addrs || o.DB != tt.db || o.MasterName != tt.master ||
			o.IsClusterMode != tt.cluster || (o.TLSConfig != nil) != tt.tls {
			t.Errorf("%s: got %+v", tt.url, o)
		}
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"redis://:s3cret@h:1/0":       "redis://:xxxxx@h:1/0",
		"redis://user:s3cret@h:1":     "redis://user:xxxxx@h:1",
		"redis://h:1":                 "redis://h:1",
		"redis://u:s3cret@h:1\x7f/":   "redis://u:xxxxx@h:1\x7f/",
		"redis://u:s3cret@h:notaport": "redis://u:xxxxx@h:notaport",
		"redis://u:s3/cr@et@h:x":      "redis://u:xxxxx@h:x",
		"redis://h:notaport":          "redis://h:notaport",
		"h:1 %zz":                     "h:1 %zz",
	} {
		if got := setup.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseRedisURL checks the parser never panics and that neither its
// errors nor RedactURL echo a password.
//
//	go test -run '^$' -fuzz FuzzParseRedisURL -fuzztime 30s ./setup/
func FuzzParseRedisURL(f *testing.F) {
	for _, s := range []string{
		"redis://:pw@h:1/3", "rediss://u:pw@h:2", "redis-sentinel://:pw@a:1,b:2?master=m",
		"redis-cluster://u:pw@a:1?addr=b:2", "redis://h:1/99999999999999999999", "redis://[::1]:6379", "%",
	} {
		f.Add(s)
	}
	for _, s := range []string{"redis://u:pwSECRET@h:notaport", "redis://u:pwSECRET@h/x@y:z", "redis://u:pwSECRET@h o:1",
		"redis-sentinel://s:1?master=m&password=pwSECRET", "rediss-sentinel://s:x?master=m&password=pwSECRET"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := setup.ParseRedisURL(raw)
		// A URL whose only copy of the password is in its userinfo.
		secret := strings.HasPrefix(raw, "redis://u:pwSECRET@") && strings.Count(raw, "pwSECRET") == 1 ||
			strings.HasPrefix(raw, "redis-sentinel://s:1?master=m&password=pwSECRET") && strings.Count(raw, "pwSECRET") == 1
		if secret && strings.Contains(setup.RedactURL(raw), "pwSECRET") {
			t.Fatalf("password in RedactURL: %q", setup.RedactURL(raw))
		}
		if err == nil {
			return
		}
		if err.Error() == "" {
			t.Fatal("empty error")
		}
		if secret && strings.Contains(err.Error(), "pwSECRET") {
			t.Fatalf("password in error: %v", err)
		}
	})
}

// TestParseSentinelURL: the userinfo is the sentinels' credentials (as in
// asynq), the username and password parameters the data nodes', and
// rediss-sentinel:// turns on TLS.
func TestParseSentinelURL(t *testing.T) {
	t.Parallel()
	o, err := setup.ParseRedisURL("redis-sentinel://suser:SENTPW@s1:26379,s2:26379?master=mm&username=app&password=DATAPW")
	if err != nil {
		t.Fatal(err)
	}
	if o.MasterName != "mm" || strings.Join(o.Addrs, ",") != "s1:26379,s2:26379" ||
		o.SentinelUsername != "suser" || o.SentinelPassword != "SENTPW" ||
		o.Username != "app" || o.Password != "DATAPW" || o.TLSConfig != nil {
		t.Errorf("got %+v", o)
	}
	o, err = setup.ParseRedisURL("rediss-sentinel://:SENTPW@s1:26379?password=a%26b%3Dc&master=mm")
	if err != nil {
		t.Fatal(err)
	}
	if o.TLSConfig == nil || o.Password != "a&b=c" || o.SentinelPassword != "SENTPW" || o.SentinelUsername != "" {
		t.Errorf("rediss-sentinel: got %+v", o)
	}
	if got := setup.RedisSecrets(o); strings.Join(got, " ") != "a&b=c SENTPW" {
		t.Errorf("RedisSecrets = %q", got)
	}
	for url, want := range map[string]string{
		"redis-sentinel://:SENTPW@s1:1?master=mm&pasword=DATAPW":           `unknown parameter "pasword"`,
		"redis-sentinel://:SENTPW@s1:1?master=mm&password=a&password=b":    `parameter "password" given 2 times`,
		"redis-sentinel://:SENTPW@s1:1?password=DATAPW":                    "needs ?master=NAME",
		"redis-sentinel://:SENTPW@s1:1?master=mm&password=DATAPW%zz":       "the query is not name=value",
		"rediss-sentinel://:SENTPW@s1:x?master=mm&password=DATAPW":         `port "x" is not a number`,
		"rediss-sentinel://:SENTPW@?master=mm&password=DATAPW":             "no host; want rediss-sentinel://",
		"redis-sentinel://:SENTPW@s1:1,s2:99999?master=mm&password=DATAPW": "port 99999 is out of range",
	} {
		_, err := setup.ParseRedisURL(url)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", url, err, want)
			continue
		}
		if strings.Contains(err.Error(), "PW") {
			t.Errorf("%s: a password in the error %q", url, err)
		}
	}
}

// TestRedactSentinelURL: both of a Sentinel URL's passwords are hidden,
// the rest is kept as written.
func TestRedactSentinelURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"redis-sentinel://:SENTPW@s1:1,s2:2?master=mm&password=DATAPW":           "redis-sentinel://:xxxxx@s1:1,s2:2?master=mm&password=xxxxx",
		"rediss-sentinel://u:SENTPW@s1:1?password=DATAPW&master=mm&username=app": "rediss-sentinel://u:xxxxx@s1:1?password=xxxxx&master=mm&username=app",
		"redis-sentinel://s1:1?master=mm&Password=DATAPW#x":                      "redis-sentinel://s1:1?master=mm&Password=xxxxx#x",
		"redis-sentinel://s1:1?master=mm&password=DATA/PW@x":                     "redis-sentinel://s1:1?master=mm&password=xxxxx",
		"redis-sentinel://:SENT/PW@s1:x?master=mm&password=DATAPW":               "redis-sentinel://:xxxxx@s1:x?master=mm&password=xxxxx",
		"redis-sentinel://s1:1 x?master=mm&password=DATAPW":                      "redis-sentinel://s1:1 x?master=mm&password=xxxxx",
	} {
		if got := setup.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
