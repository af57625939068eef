package main

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// TestRefusesRedisOlderThan7: a worker pointed at a Redis that reports
// version 6.2 (a stand-in speaking just enough of the protocol) fails at
// start with one clear line, worker.failed naming the version and the one
// needed, and exit status 1, instead of deferring every job with a dedupe
// key on a script error.
func TestRefusesRedisOlderThan7(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveOldRedis(c, "6.2.14")
		}
	}()
	w := workertest.StartNoWait(t, nil, []string{"REDIS_URL=redis://" + ln.Addr().String()})
	if code := w.Wait(20 * time.Second); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	failed := w.Lines("worker.failed")
	if len(failed) != 1 || !strings.Contains(failed[0].Str("error"), "redis 6.2.14 is too old: jobrunner needs Redis 7.0 or later") {
		t.Fatalf("worker.failed = %v", failed)
	}
}

// serveOldRedis answers PING and INFO as a Redis of version v would over
// RESP2, and refuses every other command (HELLO included, so the client
// stays on RESP2).
func serveOldRedis(c net.Conn, v string) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		var reply string
		switch strings.ToUpper(args[0]) {
		case "PING":
			reply = "+PONG\r\n"
		case "INFO":
			info := "# Server\r\nredis_version:" + v + "\r\nredis_mode:standalone\r\n"
			reply = "$" + strconv.Itoa(len(info)) + "\r\n" + info + "\r\n"
		default:
			reply = fmt.Sprintf("-ERR unknown command '%s'\r\n", args[0])
		}
		if _, err := c.Write([]byte(reply)); err != nil {
			return
		}
	}
}

// readCommand reads one RESP array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "*")))
	if err != nil || n < 1 {
		return nil, fmt.Errorf("bad command header %q", line)
	}
	args := make([]string, n)
	for i := range args {
		if _, err := r.ReadString('\n'); err != nil { // $len
			return nil, err
		}
		s, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		args[i] = strings.TrimSuffix(s, "\r\n")
	}
	return args, nil
}
