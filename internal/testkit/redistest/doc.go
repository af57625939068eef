// Package redistest starts dedicated Redis servers, clusters and Sentinel
// setups for tests, each a set of real redis-server processes on free ports
// of 127.0.0.1, torn down when the test ends. Tests never touch the shared
// instance on 6379.
//
// # One server
//
// Start runs one redis-server without persistence (StartWith and
// Options.AOF for an append-only file). Kill and Restart let fault tests
// take it away and bring it back on the same port. When redis-server is not
// on PATH, Start falls back to an embedded miniredis, unless
// JOBRUNNER_REQUIRE_REDIS=1, in which case the test fails: CI sets it so
// that nothing silently runs against the emulation.
//
// # Cluster and Sentinel
//
// StartCluster runs a Redis Cluster of 3 primaries with 1 replica each
// (created with redis-cli --cluster create) and waits until every node says
// cluster_state:ok and every replica is attached. StartSentinel runs a
// primary, a replica and 3 sentinels monitoring it as SentinelMasterName.
// Both use short timeouts, so a killed primary is replaced in 2 to 4
// seconds: KillPrimaryFor or KillPrimary, then WaitFailover, then Rejoin
// to bring the dead node back as a replica. Neither has an emulated
// fallback: without redis-server (and redis-cli for the cluster) on PATH
// they skip the test, or fail it when JOBRUNNER_REQUIRE_REDIS=1.
//
// Note that a go-redis cluster client refreshes its slot map only on a
// MOVED reply or once a minute, so after a failover it keeps dialing the
// dead primary for up to a minute unless its ReloadState is called (the
// worker's client, from setup.NewRedisClient, calls it on failed commands).
//
// Server.Pause and Resume stop and continue a node (SIGSTOP, SIGCONT), so
// that a write reaches a primary and not its replica (Env.ReplicaOf): the
// fence test in lockstore loses a grant in a failover that way.
//
// # Running a suite on every topology
//
// Topologies lists a single server, a cluster and a Sentinel setup. Each
// Start returns an Env: a client, a REDIS_URL that cmd/worker and
// cmd/enqueue accept, and fault hooks that mean the same on every topology
// (KillPrimary, Recover, Stats per primary). An acceptance suite runs once
// per topology without copies:
//
//	func TestStore(t *testing.T) {
//		for _, topo := range redistest.Topologies() {
//			t.Run(topo.Name, func(t *testing.T) {
//				env := topo.Start(t)
//				lockcoretest.Run(t, func(t *testing.T) lockcore.Store {
//					return lockcore.NewRedisStore(env.Client, lockcore.RedisConfig{Prefix: uuid.NewString()})
//				})
//			})
//		}
//	}
//
// # Measuring
//
// ReadStats and Server.Stats read INFO commandstats and the server's CPU
// time; subtract two readings to cost a piece of work. Cluster.Stats and
// Env.Stats give one reading per primary. TripCounter is a go-redis hook
// counting round trips.
//
// See docs/testing.md for how the suite uses it and how long it takes.
package redistest
