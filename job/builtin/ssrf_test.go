package builtin

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestRefusal(t *testing.T) {
	t.Parallel()
	const (
		allowed = ""
		private = "private only"
	)
	tests := []struct {
		addr string
		want string // a substring of the reason; private: refused only with denyPrivate
	}{
		{"93.184.216.34", allowed},
		{"2606:2800:220:1:248:1893:25c8:1946", allowed},
		{"8.8.8.8", allowed},
		{"169.254.169.254", "cloud metadata"},
		{"169.254.170.2", "cloud metadata"},
		{"fd00:ec2::254", "cloud metadata"},
		{"100.100.100.200", "cloud metadata"},
		{"168.63.129.16", "cloud metadata"},
		{"192.0.0.192", "cloud metadata"},
		{"::ffff:169.254.169.254", "cloud metadata"},
		{"64:ff9b::169.254.169.254", "cloud metadata"},
		{"2002:a9fe:a9fe::1", "cloud metadata"},
		{"::169.254.169.254", "cloud metadata"},
		{"169.254.1.1", "link-local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"224.0.0.1", "multicast"},
		{"ff02::1", "multicast"},
		{"255.255.255.255", "reserved"},
		{"127.0.0.1", private},
		{"127.255.0.9", private},
		{"::1", private},
		{"::ffff:127.0.0.1", private},
		{"0.0.0.0", private},
		{"::", private},
		{"10.1.2.3", private},
		{"172.16.0.1", private},
		{"172.31.255.255", private},
		{"192.168.1.1", private},
		{"100.64.0.1", private},
		{"fd12:3456::1", private},
		{"fc00::1", private},
		{"198.18.0.1", private},
		{"64:ff9b::10.0.0.1", private},
		{"172.32.0.1", allowed},
		{"100.128.0.1", allowed},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		open, closed := refusal(a, false), refusal(a, true)
		switch tt.want {
		case allowed:
			if open != "" || closed != "" {
				t.Errorf("%s: refused (%q, %q), want allowed", tt.addr, open, closed)
			}
		case private:
			if open != "" || closed == "" || !strings.Contains(closed, "WebhookDenyPrivate") {
				t.Errorf("%s: refusal = %q, with denyPrivate %q; want only the latter", tt.addr, open, closed)
			}
		default:
			if !strings.Contains(open, tt.want) || !strings.Contains(closed, tt.want) {
				t.Errorf("%s: refusal = %q, %q; want %q always", tt.addr, open, closed, tt.want)
			}
		}
	}
}

func TestGuardDial(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())

	c, err := newGuard(false).dialContext(t.Context(), "tcp", "localhost:"+port)
	if err != nil {
		t.Fatalf("loopback refused by default: %v", err)
	}
	_ = c.Close()

	_, err = newGuard(true).dialContext(t.Context(), "tcp", "localhost:"+port)
	var de *WebhookDestinationError
	if !errors.As(err, &de) || de.Host != "localhost" || !de.Addr.IsLoopback() || !de.Permanent() {
		t.Fatalf("err = %v (%+v), want the guard to refuse localhost", err, de)
	}

	// Refused after the socket is made and before it connects: no packet
	// leaves.
	_, err = newGuard(false).dialContext(t.Context(), "tcp", "169.254.169.254:80")
	if !errors.As(err, &de) || de.Host != "169.254.169.254" || de.Reason != reasonMetadata {
		t.Fatalf("err = %v, want the metadata address refused", err)
	}
}

func TestCheckWebhookDestination(t *testing.T) {
	t.Parallel()
	deny := CheckWebhookDestination(Config{WebhookDenyPrivate: true})
	allow := CheckWebhookDestination(Config{})
	tests := []struct {
		url               string
		denied, allowedOK bool // refused with WebhookDenyPrivate; accepted without
	}{
		{"http://127.0.0.1:8080/hook", true, true},
		{"http://localhost/hook", true, true},
		{"https://[::1]:8443/", true, true},
		{"http://10.0.0.7/", true, true},
		{"http://169.254.169.254/latest", true, false}, // always refused
		{"https://93.184.216.34/", false, true},
		{"not a url", false, true}, // Validate's business
	}
	for _, tt := range tests {
		p := WebhookPayload{URL: tt.url}
		err := deny(t.Context(), p)
		var de *WebhookDestinationError
		if tt.denied != (err != nil) || (err != nil && !errors.As(err, &de)) {
			t.Errorf("%s with WebhookDenyPrivate: err = %v", tt.url, err)
		}
		if err := allow(t.Context(), p); tt.allowedOK != (err == nil) {
			t.Errorf("%s without: err = %v", tt.url, err)
		}
	}
	// The verdict for a host is remembered.
	if a, b := deny(t.Context(), WebhookPayload{URL: "http://localhost/a"}), deny(t.Context(), WebhookPayload{URL: "http://localhost:9/b"}); a != b {
		t.Errorf("second lookup of localhost gave a different error: %v, %v", a, b)
	}
}
