package redistest

import (
	"context"

	"testing"

	"github.com/redis/go-redis/v9"
)

// Topology is one way of running Redis. Acceptance suites run against
// each of Topologies, so what works on one Redis is kept working on a
// cluster and behind Sentinel.
type Topology struct {
	// Name is "single", "cluster" or "sentinel", fit for t.Run.
	Name string
	// Start starts the topology for tb; it is torn down when tb ends.
	Start func(tb testing.TB) *Env
}

// Topologies returns a single server, a cluster (StartCluster) and a
// Sentinel setup (StartSentinel), each with default options.
func Topologies() []Topology { return TopologiesWith(Options{}) }

// TopologiesWith is Topologies with opts for every data node (not the
// sentinels).
func TopologiesWith(opts Options) []Topology {
	return []Topology{
		{Name: "single", Start: func(tb testing.TB) *Env {
			tb.Helper()
			s := StartWith(tb, opts)
			return &Env{Name: "single", URL: s.URL(), Client: s.Client(), Server: s, tb: tb}
		}},
		{Name: "cluster", Start: func(tb testing.TB) *Env {
			tb.Helper()
			c := StartCluster(tb, ClusterOptions{Options: opts})
			return &Env{Name: "cluster", URL: c.URL(), Client: c.Client(), Cluster: c, tb: tb}
		}},
		{Name: "sentinel", Start: func(tb testing.TB) *Env {
			tb.Helper()
			s := StartSentinel(tb, SentinelOptions{Options: opts})
			return &Env{Name: "sentinel", URL: s.URL(), Client: s.Client(), Sentinel: s, tb: tb,
				Passwords: []string{SentinelPassword, SentinelDataPassword}}
		}},
	}
}

// Env is a started topology: how to reach it and how to break it.
type Env struct {
	// Name is the topology's name.
	Name string
	// URL is a REDIS_URL that cmd/worker and cmd/enqueue accept
	// (setup.ParseRedisURL).
	URL string
	// Client is a client of the topology: a *redis.Client, a
	// *redis.ClusterClient, or a failover *redis.Client that follows the
	// sentinels. It is closed when the test ends.
	Client redis.UniversalClient
	// Passwords are the passwords in URL (Sentinel's two), which no log
	// line, error or output may show.
	Passwords []string

	// Exactly one of Server, Cluster and Sentinel is set, for what the
	// methods below do not cover.
	Server   *Server
	Cluster  *Cluster
	Sentinel *Sentinel

	tb testing.TB
}

// NewClient returns another client like Client, closed when the test ends.
func (e *Env) NewClient() redis.UniversalClient {
	switch {
	case e.Cluster != nil:
		return e.Cluster.Client()
	case e.Sentinel != nil:
		return e.Sentinel.Client()
	default:
		return e.Server.Client()
	}
}

// PrimaryFor returns the server that takes the writes of key: the one
// server, the cluster primary of key's slot, or the Sentinel primary.
func (e *Env) PrimaryFor(key string) *Server {
	e.tb.Helper()
	switch {
	case e.Cluster != nil:
		return e.Cluster.PrimaryFor(key)
	case e.Sentinel != nil:
		return e.Sentinel.Primary()
	default:
		return e.Server
	}
}

// KillPrimary kills (SIGKILL) the server that takes the writes of key and
// returns it. Follow with Recover.
func (e *Env) KillPrimary(key string) *Server {
	e.tb.Helper()
	p := e.PrimaryFor(key)
	p.Kill()
	return p
}

// Recover brings the topology back after KillPrimary killed dead. A single
// server is restarted on its port (keeping its data only with AOF); a
// cluster or Sentinel setup is waited on until the replica is promoted,
// and dead stays down (dead.Restart brings it back as a replica).
//
// On a cluster, Recover also reloads Client's slot map. Note that go-redis
// reloads it by itself only on a MOVED reply or once a minute
// (ClusterStateReloadInterval), so any other plain go-redis cluster client
// keeps dialing the dead primary for up to a minute (setup.NewRedisClient's,
// which the worker uses, reloads on failed commands).
func (e *Env) Recover(dead *Server) {
	e.tb.Helper()
	switch {
	case e.Cluster != nil:
		e.Cluster.WaitFailover(dead)
		if cc, ok := e.Client.(*redis.ClusterClient); ok {
			cc.ReloadState(context.Background())
		}
	case e.Sentinel != nil:
		e.Sentinel.WaitFailover(dead)
	default:
		dead.Restart()
	}
}

// Stats returns INFO commandstats and cpu of every running primary, by
// address.
func (e *Env) Stats() map[string]Stats {
	e.tb.Helper()
	switch {
	case e.Cluster != nil:
		return e.Cluster.Stats()
	case e.Sentinel != nil:
		return e.Sentinel.Stats()
	default:
		return map[string]Stats{e.Server.Addr: ReadStats(e.tb, e.Client)}
	}
}
