package rediserr

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

// TestIsAuth asks a real Redis with a password for the replies it gives
// to a wrong password, a wrong user and no password.
func TestIsAuth(t *testing.T) {
	srv := redistest.Start(t)
	if srv.Embedded {
		t.Skip("miniredis has no CONFIG SET; CI runs this on redis-server")
	}
	ctx := context.Background()
	if err := srv.Client().ConfigSet(ctx, "requirepass", "s3cret").Err(); err != nil {
		t.Fatal(err)
	}
	for _, o := range []*redis.Options{
		{Addr: srv.Addr, Password: "wrong"},
		{Addr: srv.Addr, Username: "bob", Password: "s3cret"},
		{Addr: srv.Addr},
	} {
		c := redis.NewClient(o)
		err := c.Ping(ctx).Err()
		_ = c.Close()
		if !IsAuth(err) || !IsAuth(fmt.Errorf("runner: %w", err)) {
			t.Errorf("user %q password %q: %v is not an auth error", o.Username, o.Password, err)
		}
		if d := Describe(err); d[:len("redis authentication failed")] != "redis authentication failed" {
			t.Errorf("Describe = %q", d)
		}
	}
	for _, err := range []error{nil, errors.New("WRONGPASS but not from Redis"), redis.Nil, context.DeadlineExceeded} {
		if IsAuth(err) {
			t.Errorf("%v is an auth error", err)
		}
	}
}
