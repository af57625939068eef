package redistest

import (
	"sync"
	"syscall"
)

// Pause stops the server's process (SIGSTOP) without killing it: it
// answers nothing and reads nothing, not even its replication link, until
// Resume. A failover test pauses a replica so that a write reaches only
// the primary. Keep pauses short: a node paused longer than the
// cluster-node-timeout or the sentinels' down-after-milliseconds is itself
// judged down. It is a no-op on a server that is not running.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.tb.Helper()
	if s.mini != nil {
		s.tb.Fatalf("redistest: cannot signal an embedded server")
	}
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	if err := cmd.Process.Signal(sig); err != nil {
		s.tb.Fatalf("redistest: signal %v to %s: %v", sig, s.Addr, err)
	}
}

// ReplicaOf returns a replica that follows primary: its cluster replica,
// or the Sentinel setup's other data node. It is nil on a single server.
func (e *Env) ReplicaOf(primary *Server) *Server {
	e.tb.Helper()
	switch {
	case e.Cluster != nil:
		if rs := e.Cluster.ReplicasOf(primary); len(rs) > 0 {
			return rs[0]
		}
	case e.Sentinel != nil:
		for _, d := range e.Sentinel.Data {
			if d != primary {
				return d
			}
		}
	}
	return nil
}

// Servers returns every server of the topology: the one server, the
// cluster's nodes, or the Sentinel setup's data nodes and sentinels.
func (e *Env) Servers() []*Server {
	switch {
	case e.Cluster != nil:
		return e.Cluster.Nodes
	case e.Sentinel != nil:
		return append(append([]*Server(nil), e.Sentinel.Data...), e.Sentinel.Sentinels...)
	default:
		return []*Server{e.Server}
	}
}

// PauseAll pauses every server of the topology (Pause), as a network
// partition that drops packets or a frozen host would look to a client,
// and returns a function that resumes them; it is also called when the
// test ends. On a cluster or behind Sentinel, a pause longer than the
// failure detection (1s) may be followed by a failover once resumed.
func (e *Env) PauseAll() (resume func()) {
	servers := e.Servers()
	for _, s := range servers {
		s.Pause()
	}
	var once sync.Once
	resume = func() {
		once.Do(func() {
			for _, s := range servers {
				s.Resume()
			}
		})
	}
	e.tb.Cleanup(resume)
	return resume
}
