package redistest

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sentinel timings StartSentinel uses unless told otherwise: a primary is
// judged down after SentinelDownAfterDefault and replaced a second or two
// later; a failover that stalls is retried after twice
// SentinelFailoverTimeoutDefault.
const (
	SentinelDownAfterDefault       = time.Second
	SentinelFailoverTimeoutDefault = 3 * time.Second
)

// SentinelMasterName is the name the sentinels monitor the primary under.
const SentinelMasterName = "jobrunner"

// The passwords of a Sentinel setup, as production runs it: the data
// nodes have requirepass (and masterauth, for the replica), the sentinels
// a requirepass of their own (with sentinel-pass to reach each other and
// auth-pass to reach the data nodes). URL and Client send both.
const (
	SentinelDataPassword = "data-s3cret-pw"
	SentinelPassword     = "sentinel-s3cret-pw"
)

// SentinelOptions change how StartSentinel runs the setup. The zero value
// runs a primary, a replica and 3 sentinels with no persistence and the
// default timings.
type SentinelOptions struct {
	// Options apply to the primary and the replica.
	Options
	// DownAfter is down-after-milliseconds: how long the primary must not
	// answer before a sentinel thinks it is down. Defaults to
	// SentinelDownAfterDefault.
	DownAfter time.Duration
	// FailoverTimeout is failover-timeout. Defaults to
	// SentinelFailoverTimeoutDefault.
	FailoverTimeout time.Duration
}

// Sentinel is a Sentinel-managed primary with one replica, watched by three
// sentinels, every one its own redis-server process on 127.0.0.1.
type Sentinel struct {
	// MasterName is the name the sentinels know the primary by.
	MasterName string
	// Data are the primary and the replica, in the order they were started.
	// Roles change with failovers: ask Primary, not the order.
	Data []*Server
	// Sentinels are the three sentinels.
	Sentinels []*Server

	tb testing.TB
}

// sentinelQuorum is how many sentinels must agree that the primary is down.
const sentinelQuorum = 2

// StartSentinel starts a Sentinel setup for tb and waits until every
// sentinel monitors the primary, sees the replica and knows the other
// sentinels, so a failover can happen. Every process is killed when the
// test ends.
//
// It needs redis-server on PATH (run as a sentinel with --sentinel):
// without it it skips the test, or fails it when JOBRUNNER_REQUIRE_REDIS=1.
func StartSentinel(tb testing.TB, opts SentinelOptions) *Sentinel {
	tb.Helper()
	requireTools(tb, "redis-server")
	opts.DownAfter = cmp.Or(opts.DownAfter, SentinelDownAfterDefault)
	opts.FailoverTimeout = cmp.Or(opts.FailoverTimeout, SentinelFailoverTimeoutDefault)
	s := &Sentinel{MasterName: SentinelMasterName, tb: tb}

	withAuth := func(d *Server) error {
		d.password = SentinelDataPassword
		d.authArgs = []string{"--requirepass", SentinelDataPassword, "--masterauth", SentinelDataPassword}
		return nil
	}
	primary, err := launch(tb, opts.Options, withAuth)
	if err != nil {
		tb.Fatalf("redistest: sentinel primary: %v", err)
	}
	host, port, _ := net.SplitHostPort(primary.Addr)
	replica, err := launch(tb, opts.Options, func(r *Server) error {
		r.args = []string{"--replicaof", host, port}
		return withAuth(r)
	})
	if err != nil {
		tb.Fatalf("redistest: sentinel replica: %v", err)
	}
	s.Data = []*Server{primary, replica}
	if err := poll(time.Minute, func() error { return linkUp(replica) }); err != nil {
		tb.Fatalf("redistest: replica never synced: %v", err)
	}

	for range 3 {
		sn, err := launch(tb, Options{}, func(sn *Server) error {
			// Sentinel rewrites its file, so it is written afresh per attempt.
			sn.conf = filepath.Join(sn.dir, "sentinel.conf")
			sn.args = []string{"--sentinel"}
			sn.password = SentinelPassword
			conf := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s %[4]d\n"+
				"sentinel down-after-milliseconds %[1]s %[5]d\n"+
				"sentinel failover-timeout %[1]s %[6]d\n"+
				"sentinel parallel-syncs %[1]s 1\n"+
				"sentinel auth-pass %[1]s %[7]s\n"+
				"requirepass %[8]s\n"+
				"sentinel sentinel-pass %[8]s\n",
				s.MasterName, host, port, sentinelQuorum,
				opts.DownAfter.Milliseconds(), opts.FailoverTimeout.Milliseconds(),
				SentinelDataPassword, SentinelPassword)
			return os.WriteFile(sn.conf, []byte(conf), 0o600)
		})
		if err != nil {
			tb.Fatalf("redistest: sentinel: %v", err)
		}
		s.Sentinels = append(s.Sentinels, sn)
	}
	s.WaitHealthy()
	return s
}

// SentinelAddrs returns the addresses of the sentinels.
func (s *Sentinel) SentinelAddrs() []string {
	addrs := make([]string, len(s.Sentinels))
	for i, sn := range s.Sentinels {
		addrs[i] = sn.Addr
	}
	return addrs
}

// URL returns a redis-sentinel:// URL naming every sentinel, the master
// name and both passwords (the sentinels' as the userinfo, the data
// nodes' as password=), as setup.ParseRedisURL accepts it.
func (s *Sentinel) URL() string {
	return "redis-sentinel://:" + SentinelPassword + "@" + strings.Join(s.SentinelAddrs(), ",") +
		"?master=" + s.MasterName + "&password=" + SentinelDataPassword
}

// Client returns a new failover client (it asks the sentinels for the
// primary and follows failovers), closed when the test ends.
func (s *Sentinel) Client() *redis.Client {
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: s.MasterName, SentinelAddrs: s.SentinelAddrs(), ContextTimeoutEnabled: true,
		SentinelPassword: SentinelPassword, Password: SentinelDataPassword,
	})
	s.tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Primary returns the current primary, as the first running sentinel
// reports it.
func (s *Sentinel) Primary() *Server {
	s.tb.Helper()
	for _, sn := range s.Sentinels {
		if !sn.running() {
			continue
		}
		addr, err := s.primaryAddr(sn.Addr)
		if err == nil {
			if p := s.data(addr); p != nil {
				return p
			}
		}
	}
	s.tb.Fatalf("redistest: no sentinel names a primary of ours")
	return nil
}

// KillPrimary kills (SIGKILL) the current primary and returns it. Follow
// with WaitFailover.
func (s *Sentinel) KillPrimary() *Server {
	s.tb.Helper()
	p := s.Primary()
	p.Kill()
	return p
}

// WaitFailover waits until every running sentinel names a primary other
// than old, with no failover in progress, and that server answers ROLE as
// a master. It returns the new primary, and fails the test after a minute.
func (s *Sentinel) WaitFailover(old *Server) *Server {
	s.tb.Helper()
	var primary string
	if err := poll(time.Minute, func() error {
		var err error
		primary, err = s.agreed()
		if err != nil {
			return err
		}
		if primary == old.Addr {
			return fmt.Errorf("sentinels still name %s", old.Addr)
		}
		return nil
	}); err != nil {
		s.tb.Fatalf("redistest: waiting for a failover from %s: %v", old.Addr, err)
	}
	return s.data(primary)
}

// Rejoin restarts dead, a killed primary or replica, as a replica of the
// current primary and waits until the setup is healthy. dead.Restart alone
// brings it back as it started; the sentinels then turn a former primary
// into a replica, but only about 10s later.
func (s *Sentinel) Rejoin(dead *Server) {
	s.tb.Helper()
	host, port, _ := net.SplitHostPort(s.Primary().Addr)
	dead.args = []string{"--replicaof", host, port}
	dead.Restart()
	s.WaitHealthy()
}

// WaitHealthy waits until every running sentinel names the same primary,
// which answers ROLE as a master, sees a replica whose link is up and
// knows the other sentinels. It fails the test after a minute.
func (s *Sentinel) WaitHealthy() {
	s.tb.Helper()
	if err := poll(time.Minute, func() error {
		primary, err := s.agreed()
		if err != nil {
			return err
		}
		live := 0
		for _, sn := range s.Sentinels {
			if sn.running() {
				live++
			}
		}
		for _, sn := range s.Sentinels {
			if !sn.running() {
				continue
			}
			m, err := s.master(sn.Addr)
			if err != nil {
				return err
			}
			if m["num-other-sentinels"] != strconv.Itoa(live-1) {
				return fmt.Errorf("sentinel %s knows %s other sentinels, want %d", sn.Addr, m["num-other-sentinels"], live-1)
			}
			if m["num-slaves"] == "0" {
				return fmt.Errorf("sentinel %s sees no replica", sn.Addr)
			}
		}
		for _, d := range s.Data {
			if d.running() && d.Addr != primary {
				if err := linkUp(d); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		s.tb.Fatalf("redistest: waiting for healthy sentinels: %v", err)
	}
}

// agreed returns the primary every running sentinel names when they agree,
// none is failing over, and it answers ROLE as a master.
func (s *Sentinel) agreed() (string, error) {
	var primary string
	for _, sn := range s.Sentinels {
		if !sn.running() {
			continue
		}
		m, err := s.master(sn.Addr)
		if err != nil {
			return "", err
		}
		if flags := m["flags"]; flags != "master" {
			return "", fmt.Errorf("sentinel %s: primary flags %q", sn.Addr, flags)
		}
		addr := net.JoinHostPort(m["ip"], m["port"])
		if primary != "" && addr != primary {
			return "", fmt.Errorf("sentinels disagree: %s and %s", primary, addr)
		}
		primary = addr
	}
	if primary == "" {
		return "", fmt.Errorf("no sentinel running")
	}
	role, err := withNodeAuth(primary, SentinelDataPassword, func(ctx context.Context, r *redis.Client) ([]any, error) {
		return r.Do(ctx, "ROLE").Slice()
	})
	if err != nil {
		return "", fmt.Errorf("primary %s: %w", primary, err)
	}
	if len(role) == 0 || role[0] != "master" {
		return "", fmt.Errorf("primary %s: ROLE %v", primary, role)
	}
	return primary, nil
}

// primaryAddr asks the sentinel at addr for the primary's address.
func (s *Sentinel) primaryAddr(addr string) (string, error) {
	hp, err := withSentinel(addr, func(ctx context.Context, sc *redis.SentinelClient) ([]string, error) {
		return sc.GetMasterAddrByName(ctx, s.MasterName).Result()
	})
	if err != nil {
		return "", err
	}
	if len(hp) != 2 {
		return "", fmt.Errorf("sentinel %s: GET-MASTER-ADDR-BY-NAME = %v", addr, hp)
	}
	return net.JoinHostPort(hp[0], hp[1]), nil
}

// master returns SENTINEL MASTER of the sentinel at addr.
func (s *Sentinel) master(addr string) (map[string]string, error) {
	return withSentinel(addr, func(ctx context.Context, sc *redis.SentinelClient) (map[string]string, error) {
		return sc.Master(ctx, s.MasterName).Result()
	})
}

// withSentinel is withNode for a sentinel.
func withSentinel[T any](addr string, f func(ctx context.Context, sc *redis.SentinelClient) (T, error)) (T, error) {
	sc := redis.NewSentinelClient(&redis.Options{
		Addr: addr, Password: SentinelPassword, MaxRetries: -1, DialTimeout: 500 * time.Millisecond,
		ReadTimeout: 2 * time.Second, PoolSize: 1,
	})
	defer sc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return f(ctx, sc)
}

// data returns the primary or replica on addr, or nil.
func (s *Sentinel) data(addr string) *Server {
	for _, d := range s.Data {
		if d.Addr == addr {
			return d
		}
	}
	return nil
}

// Stats returns INFO commandstats and cpu of the current primary.
func (s *Sentinel) Stats() map[string]Stats {
	s.tb.Helper()
	p := s.Primary()
	return map[string]Stats{p.Addr: p.Stats()}
}

// linkUp reports whether the replica r has its link to the primary up.
func linkUp(r *Server) error {
	addr := r.Addr
	info, err := withNodeAuth(addr, r.password, func(ctx context.Context, r *redis.Client) (string, error) {
		return r.Info(ctx, "replication").Result()
	})
	if err != nil {
		return err
	}
	if !strings.Contains(info, "master_link_status:up") {
		return fmt.Errorf("replica %s: link to its primary not up", addr)
	}
	return nil
}
