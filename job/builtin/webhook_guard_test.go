package builtin_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jobrunner/jobrunner/job/builtin"
)

func TestWebhookDestinationRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      builtin.Config
		location string // the receiver redirects here; "" means no redirect
		url      func(srv string) string
		host     string
		reason   string
	}{
		{name: "redirect to cloud metadata", location: "http://169.254.169.254/latest/meta-data/?token=x",
			host: "169.254.169.254", reason: "cloud metadata"},
		{name: "redirect to link-local", location: "http://169.254.10.10:8080/", host: "169.254.10.10", reason: "link-local"},
		{name: "redirect to Alibaba metadata", location: "http://100.100.100.200/", host: "100.100.100.200", reason: "cloud metadata"},
		{name: "redirect to file scheme", location: "file:///etc/passwd", reason: `redirect to scheme "file"`},
		{name: "redirect without host", location: "http:///nohost", reason: "without a host"},
		{name: "deny private refuses loopback", cfg: builtin.Config{WebhookDenyPrivate: true},
			host: "127.0.0.1", reason: "loopback"},
		{name: "deny private checks after resolution", cfg: builtin.Config{WebhookDenyPrivate: true},
			url:  func(srv string) string { return strings.Replace(srv, "127.0.0.1", "localhost", 1) },
			host: "localhost", reason: "loopback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.cfg)
			b.handle(func(w http.ResponseWriter, r *http.Request) {
				if tt.location != "" {
					http.Redirect(w, r, tt.location, http.StatusFound)
				}
			})
			u := b.srv.URL + "/hook?sig=abc"
			if tt.url != nil {
				u = tt.url(u)
			}
			err := b.run(t.Context(), builtin.WebhookPayload{URL: u})
			var de *builtin.WebhookDestinationError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v (%T), want a *WebhookDestinationError", err, err)
			}
			if !isPermanent(err) {
				t.Error("a refused destination must be permanent")
			}
			if tt.host != "" && de.Host != tt.host {
				t.Errorf("Host = %q, want %q", de.Host, tt.host)
			}
			if !strings.Contains(de.Reason, tt.reason) || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("err = %q, want reason %q", err, tt.reason)
			}
			if strings.Contains(err.Error(), "sig=") || strings.Contains(err.Error(), "/hook") {
				t.Errorf("err = %q shows the URL", err)
			}
			if tt.location == "" && b.hits.Load() != 0 {
				t.Errorf("the refused receiver got %d requests", b.hits.Load())
			}
		})
	}
}

func TestWebhookRedirects(t *testing.T) {
	t.Parallel()
	const secret = "Bearer s3cret-token-abcdef"
	headers := map[string]string{"Authorization": secret, "X-Api-Key": "k3y-0123456789", "Content-Type": "text/plain"}

	t.Run("same host keeps headers and resends the body", func(t *testing.T) {
		t.Parallel()
		b := setup(t, builtin.Config{})
		b.handle(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/a" {
				http.Redirect(w, r, "/b?q=1", http.StatusTemporaryRedirect)
			}
		})
		err := b.run(t.Context(), builtin.WebhookPayload{URL: b.srv.URL + "/a?token=t0ken-in-query", Headers: headers, Body: json.RawMessage(`"payload"`), IdempotencyKey: "k1"})
		if err != nil {
			t.Fatal(err)
		}
		r, body := b.lastRequest(t)
		if r.URL.Path != "/b" || body != "payload" || r.Header.Get("X-Api-Key") == "" || r.Header.Get("Authorization") != secret ||
			r.Header.Get("Idempotency-Key") != "k1" || r.Header.Get("Referer") != "" {
			t.Errorf("redirected request: %s %v body %q", r.URL, r.Header, body)
		}
	})

	t.Run("other host drops the payload headers", func(t *testing.T) {
		t.Parallel()
		other := setup(t, builtin.Config{})
		b := setup(t, builtin.Config{})
		target := strings.Replace(other.srv.URL, "127.0.0.1", "localhost", 1) + "/b"
		b.handle(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target, http.StatusTemporaryRedirect)
		})
		err := b.run(t.Context(), builtin.WebhookPayload{URL: b.srv.URL + "/a?token=t0ken-in-query", Headers: headers, Body: json.RawMessage(`"payload"`), IdempotencyKey: "k1"})
		if err != nil {
			t.Fatal(err)
		}
		r, body := other.lastRequest(t)
		h := r.Header
		if h.Get("Authorization") != "" || h.Get("X-Api-Key") != "" || h.Get("Referer") != "" {
			t.Errorf("secret headers followed the redirect: %v", h)
		}
		if h.Get("Idempotency-Key") != "k1" || h.Get("Content-Type") != "text/plain" || h.Get("User-Agent") != "jobrunner-webhook/1" || body != "payload" {
			t.Errorf("redirected request: %v body %q", h, body)
		}
	})

	t.Run("redirect loop stops", func(t *testing.T) {
		t.Parallel()
		b := setup(t, builtin.Config{})
		b.handle(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/again?token=t0ken-in-query", http.StatusFound)
		})
		err := b.run(t.Context(), builtin.WebhookPayload{URL: b.srv.URL})
		if err == nil || !isPermanent(err) || !strings.Contains(err.Error(), "more than 5 redirects") {
			t.Fatalf("err = %v, want a permanent redirect error", err)
		}
		if got := b.hits.Load(); got != builtin.WebhookMaxRedirects+1 {
			t.Errorf("receiver got %d requests, want %d", got, builtin.WebhookMaxRedirects+1)
		}
	})
}

// TestWebhookSecretsNeverInErrors fails deliveries in every way with
// secrets in the headers and the URL, and looks for them in the error and
// every error it wraps.
func TestWebhookSecretsNeverInErrors(t *testing.T) {
	t.Parallel()
	secrets := []string{"s3cret-bearer-token", "k3y-0123456789", "pa55w0rd-user", "qu3ry-t0ken", "/hooks/T000/B000/slack-path-t0ken"}
	payload := func(base string) builtin.WebhookPayload {
		return builtin.WebhookPayload{
			URL:       strings.Replace(base, "://", "://bob:pa55w0rd-user@", 1) + secrets[4] + "?token=" + secrets[3],
			Headers:   map[string]string{"Authorization": "Bearer " + secrets[0], "X-Api-Key": secrets[1]},
			TimeoutMS: 200,
		}
	}
	echo := func(w http.ResponseWriter, r *http.Request) { // a receiver that echoes the request
		w.Header().Set("Location", "ftp://x/"+r.URL.RawQuery)
		w.WriteHeader(http.StatusUnauthorized)
		_ = r.Header.Write(w)
		_, _ = io.WriteString(w, r.URL.String())
	}
	tests := []struct {
		name    string
		cfg     builtin.Config
		handler http.HandlerFunc
		url     func(srv string) string
	}{
		{name: "401 echoing the request", handler: echo},
		{name: "connection refused", url: func(string) string { return "http://" + closedAddr(t) }},
		{name: "timeout", handler: func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
		{name: "denied destination", cfg: builtin.Config{WebhookDenyPrivate: true}},
		{name: "redirect to bad scheme", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "gopher://x/?token="+r.URL.Query().Get("token"), http.StatusFound)
		}},
		{name: "redirect loop", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.String(), http.StatusFound)
		}},
		{name: "unparsable Location", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "http://[::1%zz/"+r.URL.Query().Get("token")+"/"+r.Header.Get("X-Api-Key"))
			w.WriteHeader(http.StatusFound)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.cfg)
			b.handle(tt.handler)
			base := b.srv.URL
			if tt.url != nil {
				base = tt.url(base)
			}
			err := b.run(t.Context(), payload(base))
			if err == nil {
				t.Fatal("delivery succeeded")
			}
			for e := err; e != nil; e = errors.Unwrap(e) {
				for _, s := range secrets {
					if strings.Contains(e.Error(), s) {
						t.Errorf("error %T %q contains the secret %q", e, e, s)
					}
				}
			}
			t.Log(err)
		})
	}
}
