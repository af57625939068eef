package faulttest

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// Proxy is an in-process toxiproxy between a worker and its Redis: point
// the worker at Addr, then add and remove toxics to slow down or cut the
// link.
type Proxy struct {
	// Addr is the proxy's listening address.
	Addr string

	tb    testing.TB
	proxy *toxiproxy.Proxy
	seq   atomic.Int64
}

// StartProxy starts a proxy to upstream on a free port of 127.0.0.1 and
// stops it when the test ends.
func StartProxy(tb testing.TB, upstream string) *Proxy {
	tb.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "redis", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		tb.Fatalf("faulttest: start toxiproxy: %v", err)
	}
	tb.Cleanup(p.Stop)
	return &Proxy{Addr: p.Listen, tb: tb, proxy: p}
}

// Toxic adds a toxic of type typ ("latency", "timeout", "reset_peer",
// ...) with its attributes as JSON on stream ("upstream": towards Redis,
// "downstream": towards the worker) and returns a function removing it.
func (p *Proxy) Toxic(typ, stream, attributes string) (remove func()) {
	p.tb.Helper()
	name := fmt.Sprintf("%s_%s_%d", typ, stream, p.seq.Add(1))
	body := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":1,"attributes":%s}`, name, typ, stream, attributes)
	if _, err := p.proxy.Toxics.AddToxicJson(strings.NewReader(body)); err != nil {
		p.tb.Fatalf("faulttest: add toxic %s: %v", body, err)
	}
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			_ = p.proxy.Toxics.RemoveToxic(context.Background(), name)
		}
	}
}

// Latency delays every reply from Redis by ms milliseconds (± jitter).
func (p *Proxy) Latency(ms, jitter int) (remove func()) {
	return p.Toxic("latency", "downstream", fmt.Sprintf(`{"latency":%d,"jitter":%d}`, ms, jitter))
}

// Blackhole drops all traffic towards Redis on open connections, without
// closing them, until removed: requests time out and renewals fail.
func (p *Proxy) Blackhole() (remove func()) {
	return p.Toxic("timeout", "upstream", `{"timeout":0}`)
}

// Reset removes every toxic.
func (p *Proxy) Reset() { p.proxy.Toxics.ResetToxics(context.Background()) }
