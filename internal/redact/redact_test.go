package redact

import (
	"regexp"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	r := New(Config{})
	const R = Marker
	tests := []struct{ in, want string }{
		// Nothing to blank.
		{"", ""},
		{"dial tcp 10.0.0.7:5432: connect: connection refused", "dial tcp 10.0.0.7:5432: connect: connection refused"},
		{"oauth2: cannot fetch token: 401 Unauthorized", "oauth2: cannot fetch token: 401 Unauthorized"},
		{`job x: invalid payload: field "password": is required`, `job x: invalid payload: field "password": is required`},
		{"invalid password: too short", "invalid password: too short"},
		{"Basic authentication failed; bearer token expired", "Basic authentication failed; bearer token expired"},
		{"see https://example.com/docs#retries", "see https://example.com/docs#retries"},
		{"http://[::1]:8080/users/bob@example.com: 404", "http://[::1]:8080/users/bob@example.com: 404"},
		{"GET http://host:8080/users/bob@example.com: 404", "GET http://host:8080/users/bob@example.com: 404"},

		// URLs: userinfo, query and fragment values.
		{`Get "https://bob:hunter22@api.example.com/v1/x?api_key=k3y&page=2": dial tcp: i/o timeout`,
			`Get "https://` + R + `@api.example.com/v1/x?api_key=` + R + `&page=` + R + `": dial tcp: i/o timeout`},
		{"connect postgres://app:pw0rd@db.internal:5432/orders?sslmode=disable: refused",
			"connect postgres://" + R + "@db.internal:5432/orders?sslmode=" + R + ": refused"},
		{"redis://:s3cret@h:6379/0", "redis://" + R + "@h:6379/0"},
		{"postgres://u:p/w@ss@db/x failed", "postgres://" + R + "@db/x failed"},
		{"mysql://u:p@ss@db/x", "mysql://" + R + "@db/x"},
		{"https://x.test/cb#access_token=abc&state=1", "https://x.test/cb#access_token=" + R + "&state=" + R},
		{"https://x.test/?sk_live_123", "https://x.test/?" + R},
		{`url: \"https://u:p@h/?t=1\"`, `url: \"https://` + R + `@h/?t=` + R + `\"`},
		{"redirect to https://a.test/?next=https://b.test/?token=x", "redirect to https://a.test/?next=" + R},

		// key=value.
		{"login failed: password=hunter2 user=bob", "login failed: password=" + R + " user=bob"},
		{"dsn: host=db user=app password='p w' dbname=x", "dsn: host=db user=app password='" + R + "' dbname=x"},
		{`client_secret="abc\"def" scope=x`, `client_secret="` + R + `" scope=x`},
		{"X-Amz-Signature=abcdef&X-Amz-Date=1", "X-Amz-Signature=" + R + "&X-Amz-Date=1"},
		{"Authorization=Bearer abc.def ok", "Authorization=" + R + " ok"},
		{"apiKey=1234, next", "apiKey=" + R + ", next"},
		{"ACCESS-KEY = xyz;", "ACCESS-KEY = " + R + ";"},

		// JSON.
		{`body: {"user":"bob","password":"hunter2","n":1}`, `body: {"user":"bob","password":"` + R + `","n":1}`},
		{`{"api_key": 12345, "token": null}`, `{"api_key": ` + R + `, "token": null}`},
		{`body "{\"refresh_token\":\"r-abc\",\"x\":1}"`, `body "{\"refresh_token\":\"` + R + `\",\"x\":1}"`},
		{`{'secret': 'abc'}`, `{'secret': '` + R + `'}`},

		// key: value.
		{"Authorization: Bearer eyJhbGciOi.x.y\r\nAccept: */*", "Authorization: " + R + "\r\nAccept: */*"},
		{"headers:\nCookie: a=1; b=2\nX: y", "headers:\nCookie: " + R + "\nX: y"},
		{"password: hunter2", "password: " + R},
		{"map[Authorization:[Bearer abc] Content-Type:[json]]", "map[Authorization:[" + R + "] Content-Type:[json]]"},
		{"{User:bob Password:hunter2 Host:h}", "{User:bob Password:" + R + " Host:h}"},
		{`"GET / HTTP/1.1\r\nX-Api-Key: k-123\r\nHost: h"`, `"GET / HTTP/1.1\r\nX-Api-Key: ` + R + `\r\nHost: h"`},

		// Bearer and Basic anywhere.
		{"upstream said: Bearer abcdef123 rejected", "upstream said: Bearer " + R + " rejected"},
		{"sent basic Ym9iOmh1bnRlcjIy", "sent basic " + R},
	}
	for _, tt := range tests {
		if got := r.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
		if got := r.Redact(r.Redact(tt.in)); got != tt.want {
			t.Errorf("Redact is not idempotent on %q: %q", tt.in, got)
		}
	}
}

func TestRedactLiterals(t *testing.T) {
	t.Parallel()
	const pw = "p@ss/w0rd?&"
	r := New(Config{Secrets: []string{pw, "abc", "", "Tok3nValue"}})
	for _, in := range []string{
		"auth failed for " + pw,
		"redis://:p%40ss%2Fw0rd%3F&@h",              // userinfo-escaped
		"GET /x?pw=p%40ss%2Fw0rd%3F%26",             // query-escaped
		`config {"pw":"p@ss/w0rd?\u0026"}`,          // JSON-escaped
		"value Tok3nValueTok3nValue and Tok3nValue", // repeated
	} {
		got := r.Redact(in)
		for _, f := range forms(pw) {
			if strings.Contains(got, f) {
				t.Errorf("Redact(%q) = %q keeps %q", in, got, f)
			}
		}
		if strings.Contains(got, "Tok3nValue") {
			t.Errorf("Redact(%q) = %q", in, got)
		}
	}
	if got := r.Redact("abc is short"); got != "abc is short" {
		t.Errorf("a secret shorter than MinSecret was blanked: %q", got)
	}
}

func TestRedactExtraRules(t *testing.T) {
	t.Parallel()
	r := New(Config{
		Keys:     []string{"tenant-sig"},
		Patterns: []*regexp.Regexp{regexp.MustCompile(`\bsk_live_[0-9a-zA-Z]+`), regexp.MustCompile(`ssn (\d{3})-(\d{2})-\d{4}`)},
	})
	got := r.Redact("x-tenant-sig=abc; key sk_live_4eC39HqLyjWDarjtT1zdp7dc; ssn 123-45-6789; password=p")
	want := "x-tenant-sig=" + Marker + "; key " + Marker + "; ssn " + Marker + "-" + Marker + "-6789; password=" + Marker
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestRedactWindow(t *testing.T) {
	t.Parallel()
	const secret = "Zm9vYmFyYmF6cXV4"
	r := New(Config{Secrets: []string{secret}})
	// A secret split by the window's edge: neither half may survive.
	for shift := range len(secret) {
		in := strings.Repeat("x ", (Window-shift)/2) + secret + strings.Repeat(" tail", 1000)
		got := r.Redact(in)
		if len(got) > Window+100 || !strings.HasSuffix(got, truncated(len(in))) {
			t.Fatalf("shift %d: %d bytes, ends %q", shift, len(got), got[max(0, len(got)-60):])
		}
		if strings.Contains(got, secret[:4]) {
			t.Fatalf("shift %d: part of the secret survives: %q", shift, got[len(got)-80:])
		}
	}
	// A URL cut at the window keeps no half of its password.
	in := strings.Repeat("a ", Window/2-10) + "https://user:longpassword@h/"
	if got := r.Redact(in); strings.Contains(got, "longpa") || strings.Contains(got, "user:") {
		t.Errorf("half a URL survives: %q", got[len(got)-80:])
	}
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	if got := Truncate("short", 10, 5); got != "short" {
		t.Errorf("got %q", got)
	}
	got := Truncate(strings.Repeat("€", 1000), 2048, 3000)
	if want := strings.Repeat("€", 682) + "…[truncated: 3000 bytes in all]"; got != want {
		t.Errorf("got %q", got)
	}
}
