package main

import (
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// startEmbedded runs a miniredis on addr for development. miniredis only
// moves TTLs when told, so a ticker advances its clock with real time;
// otherwise expired locks and markers would never go away.
func startEmbedded(addr string) (stop func(), err error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(addr); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		const step = 100 * time.Millisecond
		t := time.NewTicker(step)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				m.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	return func() { close(done); wg.Wait(); m.Close() }, nil
}
