// Package rediserr tells apart the Redis errors that need different words
// for the operator: a refused password is not an unreachable server.
package rediserr

import (
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// authPrefixes start the replies of a Redis that refused the connection's
// credentials: a wrong password or user (WRONGPASS, Redis 6+; "ERR invalid
// password" before), none given to a server that wants one (NOAUTH), or
// one given to a server that has none ("ERR AUTH ..." / "ERR Client sent
// AUTH ...").
var authPrefixes = []string{"WRONGPASS", "NOAUTH", "ERR invalid password", "ERR AUTH", "ERR Client sent AUTH", "ERR invalid username-password"}

// IsAuth reports whether err is Redis refusing the connection's
// credentials.
func IsAuth(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	msg := rerr.Error()
	for _, p := range authPrefixes {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// Describe is how a failed connection check reads in a message: "redis
// authentication failed (check the user and password of the URL): <err>"
// when Redis refused the credentials, else "redis unreachable: <err>".
func Describe(err error) string {
	if IsAuth(err) {
		return "redis authentication failed (check the user and password of the URL): " + err.Error()
	}
	return "redis unreachable: " + err.Error()
}
