package builtin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// WebhookDestinationError reports a webhook destination that webhook.deliver
// refuses to connect to (server-side request forgery guard). It is
// permanent: the same URL would be refused again.
//
// It names the host, never the full URL: a URL's path and query often carry
// a token.
type WebhookDestinationError struct {
	// Host is the host name (or IP literal) being connected to.
	Host string
	// Addr is the resolved address that was refused; the zero Addr when the
	// destination was refused before resolution (e.g. a redirect to a scheme
	// other than http or https).
	Addr netip.Addr
	// Reason says why, e.g. "link-local address" or "cloud metadata address".
	Reason string
}

func (e *WebhookDestinationError) Error() string {
	if e.Host == "" {
		return "webhook.deliver: destination refused: " + e.Reason
	}
	if e.Addr.IsValid() && e.Addr.String() != e.Host {
		return fmt.Sprintf("webhook.deliver: destination %q (%s) refused: %s", e.Host, e.Addr, e.Reason)
	}
	return fmt.Sprintf("webhook.deliver: destination %q refused: %s", e.Host, e.Reason)
}

// Permanent reports that the error must not be retried.
func (e *WebhookDestinationError) Permanent() bool { return true }

// addrRange is a block of addresses and the reason it is refused.
type addrRange struct {
	prefix netip.Prefix
	reason string
}

const reasonMetadata = "cloud metadata address"

// refusedRanges are never connected to. The single cloud-metadata addresses
// come first so the error names them precisely; some of them lie inside
// ranges that are otherwise only private (100.64.0.0/10, fc00::/7).
//
// Note that these tables are read-only.
var refusedRanges = []addrRange{
	{netip.MustParsePrefix("169.254.169.254/32"), reasonMetadata}, // AWS, GCP, Azure, OCI, DigitalOcean, ...
	{netip.MustParsePrefix("169.254.170.2/32"), reasonMetadata},   // AWS ECS task metadata
	{netip.MustParsePrefix("fd00:ec2::254/128"), reasonMetadata},  // AWS IMDS over IPv6
	{netip.MustParsePrefix("100.100.100.200/32"), reasonMetadata}, // Alibaba Cloud
	{netip.MustParsePrefix("168.63.129.16/32"), reasonMetadata},   // Azure WireServer
	{netip.MustParsePrefix("192.0.0.192/32"), reasonMetadata},     // Oracle Cloud (legacy)
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local address"},
	{netip.MustParsePrefix("fe80::/10"), "link-local address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast address"},
	{netip.MustParsePrefix("ff00::/8"), "multicast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved address"}, // includes 255.255.255.255
}

// privateRanges are refused when Config.WebhookDenyPrivate is set: loopback,
// private and other special-purpose ranges that do not belong to the public
// internet.
var privateRanges = []addrRange{
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback address"},
	{netip.MustParsePrefix("::1/128"), "loopback address"},
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified address"}, // 0.0.0.0 reaches the local host
	{netip.MustParsePrefix("::/128"), "unspecified address"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private address"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (CGNAT) address"},
	{netip.MustParsePrefix("fc00::/7"), "unique local address"},
	{netip.MustParsePrefix("fec0::/10"), "site-local address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "special-purpose address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking address"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation address"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation address"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation address"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation address"},
}

// IPv6 prefixes that embed an IPv4 address a gateway may translate to.
var (
	nat64Prefix     = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local      = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFourPrefix = netip.MustParsePrefix("2002::/16")
)

// refusal returns why a connection to a must be refused, or "" when it is
// allowed. IPv4 addresses written as IPv6 (mapped, compatible, NAT64, 6to4)
// are judged by the IPv4 address they embed as well.
func refusal(a netip.Addr, denyPrivate bool) string {
	a = a.Unmap().WithZone("")
	if v4, ok := embeddedIPv4(a); ok {
		if r := refusal(v4, denyPrivate); r != "" {
			return r
		}
	}
	for _, r := range refusedRanges {
		if r.prefix.Contains(a) {
			return r.reason
		}
	}
	if denyPrivate {
		for _, r := range privateRanges {
			if r.prefix.Contains(a) {
				return r.reason + " (WebhookDenyPrivate is set)"
			}
		}
	}
	return ""
}

// alwaysRefused is refusal without the private ranges: what validation can
// decide about an IP literal before any Config is known.
func alwaysRefused(a netip.Addr) string { return refusal(a, false) }

// embeddedIPv4 returns the IPv4 address embedded in an IPv4-compatible
// (::a.b.c.d), NAT64 or 6to4 IPv6 address.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	switch {
	case nat64Prefix.Contains(a), nat64Local.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFourPrefix.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case [12]byte(b[:12]) == [12]byte{} && a.Compare(netip.IPv6Loopback()) > 0:
		// IPv4-compatible (deprecated); :: and ::1 are themselves.
		return netip.AddrFrom4([4]byte(b[12:16])), true
	}
	return netip.Addr{}, false
}

// guard dials only to allowed destinations. Its dialer checks the address
// actually connected to, after DNS resolution, so redirects and DNS
// rebinding cannot slip past it.
type guard struct {
	denyPrivate bool
	dialer      net.Dialer
}

func newGuard(denyPrivate bool) *guard {
	g := &guard{denyPrivate: denyPrivate}
	g.dialer = net.Dialer{
		Timeout:   webhookDialTimeout,
		KeepAlive: 30 * time.Second,
		Control:   g.control,
	}
	return g
}

// control runs after the socket is created and before it connects, with the
// resolved address.
func (g *guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &WebhookDestinationError{Host: address, Reason: "unparsable address"}
	}
	if r := refusal(ap.Addr(), g.denyPrivate); r != "" {
		return &WebhookDestinationError{Host: ap.Addr().String(), Addr: ap.Addr().Unmap(), Reason: r}
	}
	return nil
}

// dialContext dials addr ("host:port", before resolution) and, when the
// guard refuses it, returns a *WebhookDestinationError naming the host.
func (g *guard) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := g.dialer.DialContext(ctx, network, addr)
	var de *WebhookDestinationError
	if err != nil && errors.As(err, &de) {
		host, _, splitErr := net.SplitHostPort(addr)
		if splitErr != nil {
			host = addr
		}
		return nil, &WebhookDestinationError{Host: host, Addr: de.Addr, Reason: de.Reason}
	}
	return conn, err
}

// checkHost resolves host (a name or an IP literal) and returns the
// *WebhookDestinationError the guard's dialer would return when every
// address it resolves to is refused. A host that does not resolve passes:
// the worker's own lookup decides.
func (g *guard) checkHost(ctx context.Context, host string) error {
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ctx, cancel := context.WithTimeout(ctx, webhookCheckLookupTimeout)
		defer cancel()
		if addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
			return nil
		}
	}
	var first *WebhookDestinationError
	for _, a := range addrs {
		r := refusal(a, g.denyPrivate)
		if r == "" {
			return nil // the dialer would connect through this one
		}
		if first == nil {
			first = &WebhookDestinationError{Host: host, Addr: a.Unmap().WithZone(""), Reason: r}
		}
	}
	if first == nil {
		return nil
	}
	return first
}

// webhookCheckLookupTimeout bounds the DNS lookup of CheckWebhookDestination.
const webhookCheckLookupTimeout = 3 * time.Second

// CheckWebhookDestination returns a check for the producer side: it reports
// the *WebhookDestinationError that webhook.deliver, configured by cfg,
// would fail with for p's URL, using the same guard as the worker's dialer:
// the host is resolved and refused when every address is (link-local and
// cloud-metadata always; loopback and private ranges with
// WebhookDenyPrivate). A host that does not resolve here passes, since the
// worker resolves it again at delivery and its check is the one that
// counts (DNS can change in between). Lookups are remembered per host for
// the life of the returned func, which is safe for concurrent use.
//
// The enqueue CLI (cmd/enqueue) runs it when WEBHOOK_DENY_PRIVATE is true,
// so a job the worker would archive is refused before it is enqueued.
func CheckWebhookDestination(cfg Config) func(ctx context.Context, p WebhookPayload) error {
	g := newGuard(cfg.WebhookDenyPrivate)
	var (
		mu   sync.Mutex
		seen = map[string]error{}
	)
	return func(ctx context.Context, p WebhookPayload) error {
		u, err := url.Parse(p.URL)
		if err != nil || u.Hostname() == "" {
			return nil // Validate reports it
		}
		host := u.Hostname()
		mu.Lock()
		err, ok := seen[host]
		mu.Unlock()
		if ok {
			return err
		}
		err = g.checkHost(ctx, host)
		mu.Lock()
		seen[host] = err
		mu.Unlock()
		return err
	}
}
