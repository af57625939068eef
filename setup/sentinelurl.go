package setup

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// sentinelParams are the query parameters a Sentinel URL may carry:
// the master's name and the data nodes' credentials.
var sentinelParams = []string{"master", "username", "password"}

// parseSentinelURL parses
//
//	redis-sentinel://[user:pass@]s1:26379[,s2:26379]?master=NAME[&username=U][&password=P]
//	rediss-sentinel://...  (TLS to the sentinels and the data nodes)
//
// The userinfo keeps asynq's meaning: it is the sentinels' credentials
// (Sentinel's own requirepass / ACL user). The data nodes' credentials
// (their requirepass or ACL user) come from the username and password
// parameters, since the URL has only one userinfo and production setups
// protect both sides with different passwords. asynq's own parser knows
// no data-node password and ignores a user; this one refuses an unknown
// parameter, so that "pasword=" is an error rather than a NOAUTH later.
func parseSentinelURL(u *url.URL) (*redis.UniversalOptions, error) {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, errors.New("sentinel URL: the query is not name=value&... (percent-encode a password's & = % ; +)")
	}
	for name, vs := range q {
		if !slices.Contains(sentinelParams, name) {
			return nil, fmt.Errorf("sentinel URL: unknown parameter %q; want master, username or password", name)
		}
		if len(vs) > 1 {
			return nil, fmt.Errorf("sentinel URL: parameter %q given %d times", name, len(vs))
		}
	}
	o := &redis.UniversalOptions{
		MasterName: q.Get("master"),
		Addrs:      strings.Split(u.Host, ","),
		Username:   q.Get("username"),
		Password:   q.Get("password"),
	}
	if o.MasterName == "" {
		return nil, errors.New("sentinel URL needs ?master=NAME")
	}
	if u.User != nil {
		o.SentinelUsername = u.User.Username()
		o.SentinelPassword, _ = u.User.Password()
	}
	if u.Scheme == "rediss-sentinel" {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return o, nil
}

// shownParams are the query parameters whose values RedactURL keeps: the
// ones that say where to connect and as whom. Every other value (password=,
// and a misspelt one such as pasword=) is replaced.
var shownParams = []string{"master", "username", "addr"}

// redactQueryPasswords replaces the value of every parameter of the raw
// query q but shownParams with "xxxxx", keeping the rest as written.
func redactQueryPasswords(q string) string {
	parts := strings.Split(q, "&")
	for i, p := range parts {
		name, v, ok := strings.Cut(p, "=")
		if ok && v != "" && !shownParam(name) {
			parts[i] = name + "=xxxxx"
		}
	}
	return strings.Join(parts, "&")
}

func shownParam(name string) bool {
	n, err := url.QueryUnescape(name)
	if err != nil {
		return false
	}
	return slices.Contains(shownParams, n)
}

// queryPasswords returns the values, as written and decoded, of q's
// parameters that RedactURL hides, also when q does not parse as a whole.
func queryPasswords(q string) []string {
	var ps []string
	for p := range strings.SplitSeq(q, "&") {
		name, v, ok := strings.Cut(p, "=")
		if !ok || shownParam(name) || v == "" {
			continue
		}
		ps = append(ps, v)
		if d, err := url.QueryUnescape(v); err == nil && d != v {
			ps = append(ps, d)
		}
	}
	return ps
}
