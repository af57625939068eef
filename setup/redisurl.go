package setup

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// ParseRedisURL parses a Redis URL into options for
// redis.NewUniversalClient. Accepted forms:
//
//	redis://[user:password@]host:port[/db]
//	rediss://...                               (TLS)
//	redis-sentinel://[:password@]host:port[,host:port]?master=NAME
//	redis-cluster://[user:password@]host:port[?addr=host:port...]
//
// Errors never contain the password.
func ParseRedisURL(raw string) (*redis.UniversalOptions, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a URL; want redis://host:port")
	}
	switch u.Scheme {
	case "redis", "rediss":
		o, err := redis.ParseURL(raw)
		if err != nil {
			return nil, scrub(err, raw)
		}
		return &redis.UniversalOptions{
			Addrs: []string{o.Addr}, DB: o.DB, Username: o.Username,
			Password: o.Password, TLSConfig: o.TLSConfig, Protocol: o.Protocol,
		}, nil
	case "redis-sentinel":
		opt, err := asynq.ParseRedisURI(raw)
		if err != nil {
			return nil, scrub(err, raw)
		}
		f, ok := opt.(asynq.RedisFailoverClientOpt)
		if !ok || f.MasterName == "" {
			return nil, fmt.Errorf("sentinel URL needs ?master=NAME")
		}
		return &redis.UniversalOptions{
			MasterName: f.MasterName, Addrs: f.SentinelAddrs, SentinelPassword: f.SentinelPassword,
			Username: f.Username, Password: f.Password, DB: f.DB, TLSConfig: f.TLSConfig,
		}, nil
	case "redis-cluster":
		o, err := redis.ParseClusterURL("redis://" + strings.TrimPrefix(raw, "redis-cluster://"))
		if err != nil {
			return nil, scrub(err, raw)
		}
		return &redis.UniversalOptions{
			Addrs: o.Addrs, Username: o.Username, Password: o.Password, TLSConfig: o.TLSConfig,
			IsClusterMode: true,
		}, nil
	case "":
		return nil, fmt.Errorf("no scheme; want redis://host:port")
	default:
		return nil, fmt.Errorf("scheme %q; want redis, rediss, redis-sentinel or redis-cluster", u.Scheme)
	}
}

// RedactURL returns raw with any password replaced by "xxxxx".
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable URL>"
	}
	return u.Redacted()
}

// scrub removes the password of raw from err's text.
func scrub(err error, raw string) error {
	msg := err.Error()
	if u, perr := url.Parse(raw); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	msg = strings.ReplaceAll(msg, raw, RedactURL(raw))
	return fmt.Errorf("%s", msg)
}
