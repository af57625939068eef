package redistest

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterNodeTimeoutDefault is the cluster-node-timeout StartCluster uses:
// a primary that dies is replaced by its replica about two node timeouts
// later.
const ClusterNodeTimeoutDefault = time.Second

// ClusterOptions change how StartCluster runs the cluster. The zero value
// runs 3 primaries with 1 replica each, no persistence, and a node timeout
// of ClusterNodeTimeoutDefault.
type ClusterOptions struct {
	// Options apply to every node.
	Options
	// NodeTimeout is cluster-node-timeout: how long a node must be
	// unreachable to be failed. Defaults to ClusterNodeTimeoutDefault.
	NodeTimeout time.Duration
}

// Cluster is a Redis Cluster of 3 primaries with 1 replica each, every
// node its own redis-server process on 127.0.0.1.
type Cluster struct {
	// Nodes are the six servers in the order they were started. Roles
	// change with failovers: ask Primaries or PrimaryFor, not the order.
	Nodes []*Server

	tb testing.TB
}

// clusterSize is how many primaries StartCluster creates; each gets one
// replica.
const clusterSize = 3

// StartCluster starts a cluster for tb and waits until every node reports
// cluster_state:ok and every replica is attached to its primary. Every
// process is killed when the test ends.
//
// It needs redis-server and redis-cli on PATH: without them it skips the
// test, or fails it when JOBRUNNER_REQUIRE_REDIS=1.
func StartCluster(tb testing.TB, opts ClusterOptions) *Cluster {
	tb.Helper()
	requireTools(tb, "redis-server", "redis-cli")
	opts.NodeTimeout = cmp.Or(opts.NodeTimeout, ClusterNodeTimeoutDefault)
	c := &Cluster{tb: tb}
	for range 2 * clusterSize {
		s, err := launch(tb, opts.Options, func(s *Server) error {
			bus, err := FreePort()
			if err != nil {
				return err
			}
			conf := filepath.Join(s.dir, "nodes.conf")
			_ = os.Remove(conf) // left by a failed attempt on another port
			s.args = []string{
				"--cluster-enabled", "yes",
				"--cluster-config-file", conf,
				"--cluster-node-timeout", strconv.FormatInt(opts.NodeTimeout.Milliseconds(), 10),
				// The bus port is chosen, not port+10000, which may pass 65535.
				"--cluster-port", strconv.Itoa(bus),
			}
			return nil
		})
		if err != nil {
			tb.Fatalf("redistest: cluster node: %v", err)
		}
		c.Nodes = append(c.Nodes, s)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitHealthy()
	return c
}

// Addrs returns the address of every node, running or not: seed addresses
// for a client.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// URL returns a redis-cluster:// URL naming every node, as
// setup.ParseRedisURL accepts it.
func (c *Cluster) URL() string {
	addrs := c.Addrs()
	return "redis-cluster://" + addrs[0] + "?addr=" + strings.Join(addrs[1:], "&addr=")
}

// Client returns a new cluster client seeded with every node, closed when
// the test ends.
//
// Note that a go-redis cluster client reloads its slot map only on a MOVED
// reply or once a minute (ClusterStateReloadInterval): after a failover it
// keeps dialing the dead primary for up to a minute unless told
// (ReloadState).
func (c *Cluster) Client() *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), ContextTimeoutEnabled: true})
	c.tb.Cleanup(func() { _ = cc.Close() })
	return cc
}

// Node returns the node listening on addr, or nil.
func (c *Cluster) Node(addr string) *Server {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// ClusterNode is one node as CLUSTER NODES describes it.
type ClusterNode struct {
	// ID is the node's cluster ID.
	ID string
	// Addr is host:port, without the bus port.
	Addr string
	// Primary reports the master flag; PrimaryID is the primary a replica
	// follows ("" for a primary).
	Primary   bool
	PrimaryID string
	// Failed reports the fail or fail? (suspected) flag.
	Failed bool
	// Slots are the ranges of hash slots served, each [first, last].
	Slots [][2]int
}

// Serves reports whether n serves slot.
func (n ClusterNode) Serves(slot int) bool {
	for _, r := range n.Slots {
		if slot >= r[0] && slot <= r[1] {
			return true
		}
	}
	return false
}

// Layout returns the cluster as the first running node sees it.
func (c *Cluster) Layout() []ClusterNode {
	c.tb.Helper()
	nodes, err := c.layout()
	if err != nil {
		c.tb.Fatalf("redistest: %v", err)
	}
	return nodes
}

func (c *Cluster) layout() ([]ClusterNode, error) {
	err := fmt.Errorf("no cluster node running")
	for _, n := range c.Nodes {
		if !n.running() {
			continue
		}
		var nodes []ClusterNode
		if nodes, err = clusterNodes(n.Addr); err == nil {
			return nodes, nil
		}
	}
	return nil, err
}

// Slot returns the hash slot of key (CLUSTER KEYSLOT).
func (c *Cluster) Slot(key string) int {
	c.tb.Helper()
	for _, n := range c.Nodes {
		if !n.running() {
			continue
		}
		slot, err := withNode(n.Addr, func(ctx context.Context, r *redis.Client) (int64, error) {
			return r.ClusterKeySlot(ctx, key).Result()
		})
		if err == nil {
			return int(slot)
		}
	}
	c.tb.Fatalf("redistest: no cluster node answers CLUSTER KEYSLOT")
	return 0
}

// PrimaryFor returns the primary serving key's slot.
func (c *Cluster) PrimaryFor(key string) *Server {
	c.tb.Helper()
	return c.PrimaryForSlot(c.Slot(key))
}

// PrimaryForSlot returns the primary serving slot, as the first running
// node sees it. The test fails if no primary serves it.
func (c *Cluster) PrimaryForSlot(slot int) *Server {
	c.tb.Helper()
	for _, n := range c.Layout() {
		if n.Primary && n.Serves(slot) {
			return c.Node(n.Addr)
		}
	}
	c.tb.Fatalf("redistest: no primary serves slot %d", slot)
	return nil
}

// Primaries returns the nodes that serve slots, as the first running node
// sees it; a killed primary stays listed until it is failed over.
func (c *Cluster) Primaries() []*Server {
	c.tb.Helper()
	var ps []*Server
	for _, n := range c.Layout() {
		if n.Primary && len(n.Slots) > 0 {
			ps = append(ps, c.Node(n.Addr))
		}
	}
	return ps
}

// ReplicasOf returns the replicas of primary.
func (c *Cluster) ReplicasOf(primary *Server) []*Server {
	c.tb.Helper()
	layout := c.Layout()
	var id string
	for _, n := range layout {
		if n.Addr == primary.Addr {
			id = n.ID
		}
	}
	var rs []*Server
	for _, n := range layout {
		if id != "" && n.PrimaryID == id {
			rs = append(rs, c.Node(n.Addr))
		}
	}
	return rs
}

// KillPrimaryFor kills (SIGKILL) the primary serving key's slot and
// returns it. Follow with WaitFailover.
func (c *Cluster) KillPrimaryFor(key string) *Server {
	c.tb.Helper()
	p := c.PrimaryFor(key)
	p.Kill()
	return p
}

// WaitFailover waits until the cluster has replaced dead, a killed
// primary: every running node reports cluster_state:ok with all slots
// served and none of them by dead. It fails the test after a minute.
func (c *Cluster) WaitFailover(dead *Server) {
	c.tb.Helper()
	c.wait("failover of "+dead.Addr, func() error {
		if err := c.allOK(); err != nil {
			return err
		}
		for _, n := range c.Nodes {
			if !n.running() {
				continue
			}
			nodes, err := clusterNodes(n.Addr)
			if err != nil {
				return err
			}
			for _, cn := range nodes {
				if cn.Addr == dead.Addr && len(cn.Slots) > 0 {
					return fmt.Errorf("%s still sees %s serving slots", n.Addr, dead.Addr)
				}
			}
		}
		return nil
	})
}

// Rejoin restarts dead, a killed node, and waits until it has rejoined
// the cluster (a former primary comes back as a replica of its successor).
func (c *Cluster) Rejoin(dead *Server) {
	c.tb.Helper()
	dead.Restart()
	c.WaitHealthy()
}

// WaitHealthy waits until every running node reports cluster_state:ok and
// knows every node, and every primary has a running replica whose
// replication link is up (so after a failover it passes only once the dead
// node has been restarted and has rejoined as a replica). It fails the test
// after a minute.
func (c *Cluster) WaitHealthy() {
	c.tb.Helper()
	c.wait("a healthy cluster", func() error {
		if err := c.allOK(); err != nil {
			return err
		}
		layout, err := c.layout()
		if err != nil {
			return err
		}
		replicas := map[string]int{} // primary ID -> attached replicas
		var primaries []string
		for _, n := range layout {
			if node := c.Node(n.Addr); node == nil || !node.running() {
				continue
			}
			switch {
			case n.Failed:
				return fmt.Errorf("%s is flagged failed", n.Addr)
			case n.Primary && len(n.Slots) > 0:
				primaries = append(primaries, n.ID)
			case !n.Primary:
				info, err := withNode(n.Addr, func(ctx context.Context, r *redis.Client) (string, error) {
					return r.Info(ctx, "replication").Result()
				})
				if err != nil {
					return err
				}
				if !strings.Contains(info, "master_link_status:up") {
					return fmt.Errorf("replica %s: link to its primary not up", n.Addr)
				}
				replicas[n.PrimaryID]++
			}
		}
		for _, id := range primaries {
			if replicas[id] == 0 {
				return fmt.Errorf("primary %s has no attached replica", id)
			}
		}
		return nil
	})
}

// allOK checks that every running node says cluster_state:ok, serves
// every slot and knows every node.
func (c *Cluster) allOK() error {
	for _, n := range c.Nodes {
		if !n.running() {
			continue
		}
		info, err := withNode(n.Addr, func(ctx context.Context, r *redis.Client) (string, error) {
			return r.ClusterInfo(ctx).Result()
		})
		if err != nil {
			return err
		}
		for _, want := range []string{
			"cluster_state:ok", "cluster_slots_ok:16384",
			"cluster_known_nodes:" + strconv.Itoa(len(c.Nodes)),
		} {
			if !strings.Contains(info, want+"\r\n") {
				return fmt.Errorf("%s: no %s in CLUSTER INFO", n.Addr, want)
			}
		}
	}
	return nil
}

func (c *Cluster) wait(what string, ready func() error) {
	c.tb.Helper()
	if err := poll(time.Minute, ready); err != nil {
		c.tb.Fatalf("redistest: waiting for %s: %v", what, err)
	}
}

// Stats returns INFO commandstats and cpu of every running primary, by
// address.
func (c *Cluster) Stats() map[string]Stats {
	c.tb.Helper()
	st := map[string]Stats{}
	for _, p := range c.Primaries() {
		if p.running() {
			st[p.Addr] = p.Stats()
		}
	}
	return st
}

// clusterNodes runs CLUSTER NODES on addr and parses it.
func clusterNodes(addr string) ([]ClusterNode, error) {
	text, err := withNode(addr, func(ctx context.Context, r *redis.Client) (string, error) {
		return r.ClusterNodes(ctx).Result()
	})
	if err != nil {
		return nil, err
	}
	return parseClusterNodes(text)
}

// parseClusterNodes parses CLUSTER NODES output:
//
//	<id> <ip:port@cport[,hostname]> <flags> <primary> <ping-sent> <pong-recv> <epoch> <link> <slot>...
func parseClusterNodes(text string) ([]ClusterNode, error) {
	var nodes []ClusterNode
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 8 {
			return nil, fmt.Errorf("CLUSTER NODES line %q: too few fields", line)
		}
		addr, _, _ := strings.Cut(f[1], "@")
		n := ClusterNode{ID: f[0], Addr: addr}
		for flag := range strings.SplitSeq(f[2], ",") {
			switch flag {
			case "master":
				n.Primary = true
			case "fail", "fail?":
				n.Failed = true
			}
		}
		if f[3] != "-" {
			n.PrimaryID = f[3]
		}
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") { // a slot being migrated
				continue
			}
			lo, hi, ranged := strings.Cut(s, "-")
			if !ranged {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("CLUSTER NODES slot %q", s)
			}
			n.Slots = append(n.Slots, [2]int{a, b})
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}
