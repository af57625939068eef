package setup

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ParseRedisURL parses a Redis URL into options for
// redis.NewUniversalClient. Accepted forms:
//
//	redis://[user:password@]host:port[/db]
//	rediss://...                               (TLS)
//	redis-sentinel://[user:password@]host:port[,host:port]?master=NAME[&username=U][&password=P]
//	rediss-sentinel://...                      (TLS)
//	redis-cluster://[user:password@]host:port[?addr=host:port...]
//
// A Sentinel URL's userinfo is the sentinels' credentials, as in asynq;
// the data nodes' are the username and password parameters.
//
// Errors name the part at fault (`port "x" is not a number`) and never
// contain a password.
func ParseRedisURL(raw string) (*redis.UniversalOptions, error) {
	o, err := parseRedisURL(raw)
	if err != nil {
		return nil, err
	}
	for _, a := range o.Addrs { // url.Parse lets a port such as 99999 through
		if err := checkHostPort(a); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func parseRedisURL(raw string) (*redis.UniversalOptions, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, whyUnparsable(raw, err)
	}
	if err := checkHosts(u); err != nil {
		return nil, err
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
	case "redis-sentinel", "rediss-sentinel":
		return parseSentinelURL(u)
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
		return nil, fmt.Errorf("scheme %q; want redis, rediss, redis-sentinel, rediss-sentinel or redis-cluster", u.Scheme)
	}
}

// RedactURL returns raw with any password replaced by "xxxxx": the
// userinfo's and the value of a password= parameter (a Sentinel URL's data
// nodes'). It does so also when raw is not a valid URL: everything between
// "://" and the last "@" is taken as user and password then, so that a
// password with an unescaped "/", "#" or "@" is hidden too.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err == nil {
		if _, ok := u.User.Password(); !ok {
			return redactQuery(raw) // u.String() would drop the "//" of a URL without a host
		}
		return redactQuery(u.Redacted())
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw // no authority, so no password
	}
	userinfo, hosts, ok := cutLast(rest, "@")
	if !ok {
		return scheme + "://" + redactQuery(rest)
	}
	user, _, hasPassword := strings.Cut(userinfo, ":")
	if !hasPassword {
		return scheme + "://" + userinfo + "@" + redactQuery(hosts)
	}
	return scheme + "://" + user + ":xxxxx@" + redactQuery(hosts)
}

// redactQuery redacts the password parameters of the query in s, a URL
// or its part after the userinfo: from the first "?" to a "#".
func redactQuery(s string) string {
	q := strings.IndexByte(s, '?')
	if q < 0 {
		return s
	}
	end := len(s)
	if h := strings.IndexByte(s[q:], '#'); h >= 0 {
		end = q + h
	}
	return s[:q+1] + redactQueryPasswords(s[q+1:end]) + s[end:]
}

// whyUnparsable explains why url.Parse refused raw, naming the part at
// fault, without echoing the password: only the host part (after the last
// "@") is ever quoted.
func whyUnparsable(raw string, perr error) error {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return errors.New("no scheme; want redis://host:port")
	}
	userinfo, hosts, hasUser := cutLast(rest, "@")
	if !hasUser {
		hosts = rest
	}
	if i := strings.IndexAny(hosts, "/?#"); i >= 0 {
		hosts = hosts[:i]
	}
	for hp := range strings.SplitSeq(hosts, ",") {
		if err := checkHostPort(hp); err != nil {
			return err
		}
		switch {
		case hp == "":
			return errors.New("an empty address in the list of hosts; want host:port[,host:port]")
		case hostOf(hp) == "":
			return fmt.Errorf("no host in %q; want host:port", hp)
		}
	}
	switch {
	case hasUser && strings.ContainsAny(userinfo, "/?#@%[] "):
		return errors.New(`the user or password has a character that must be percent-encoded (such as / ? # @ % or a space)`)
	case hasUser:
		return errors.New("not a URL; want redis://[user:password@]host:port")
	}
	var ue *url.Error
	if errors.As(perr, &ue) {
		return fmt.Errorf("not a URL: %v", ue.Err)
	}
	return errors.New("not a URL; want redis://host:port")
}

// checkHosts refuses a URL that names no host, or an empty one in a list:
// go-redis would quietly dial localhost:6379 in its place, and asynq a
// sentinel at ":26379", which is never what the operator meant.
func checkHosts(u *url.URL) error {
	want := map[string]string{
		"redis":           "redis://host:port",
		"rediss":          "rediss://host:port",
		"redis-sentinel":  "redis-sentinel://host:port[,host:port]?master=NAME",
		"rediss-sentinel": "rediss-sentinel://host:port[,host:port]?master=NAME",
		"redis-cluster":   "redis-cluster://host:port[?addr=host:port]",
	}[u.Scheme]
	if want == "" {
		return nil // the scheme's own error says more
	}
	hosts := []string{u.Host}
	switch u.Scheme {
	case "redis-sentinel", "rediss-sentinel":
		hosts = strings.Split(u.Host, ",")
	case "redis-cluster":
		hosts = append(hosts, u.Query()["addr"]...)
	}
	for i, hp := range hosts {
		if hostOf(hp) != "" {
			continue
		}
		switch {
		case i == 0 && u.Host == "":
			return fmt.Errorf("no host; want %s", want)
		case hp == "":
			return fmt.Errorf("an empty address in the list of hosts; want %s", want)
		}
		return fmt.Errorf("no host in %q; want %s", hp, want)
	}
	return nil
}

// hostOf returns the host of host[:port] or [IPv6]:port.
func hostOf(hp string) string {
	if strings.HasPrefix(hp, "[") {
		if end := strings.Index(hp, "]"); end > 0 {
			return hp[1:end]
		}
		return hp
	}
	h, _, _ := cutLast(hp, ":")
	return strings.TrimSpace(h)
}

// checkHostPort checks one host[:port] of a URL's authority.
func checkHostPort(hp string) error {
	host, port := hp, ""
	if strings.HasPrefix(hp, "[") { // [IPv6]:port
		end := strings.Index(hp, "]")
		if end < 0 {
			return fmt.Errorf("host %q: missing ] after an IPv6 address", hp)
		}
		host, port = hp[:end+1], strings.TrimPrefix(hp[end+1:], ":")
	} else if h, p, ok := cutLast(hp, ":"); ok {
		host, port = h, p
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		switch {
		case err != nil || strings.ContainsAny(port, "+-"):
			return fmt.Errorf("port %q is not a number", port)
		case n > 65535:
			return fmt.Errorf("port %d is out of range (0-65535)", n)
		}
	}
	if strings.ContainsAny(host, " \t\n\"<>\\^`{|}") {
		return fmt.Errorf("host %q has a character a host name cannot have", host)
	}
	return nil
}

// cutLast is strings.Cut at the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// scrub removes the password of raw from err's text.
func scrub(err error, raw string) error {
	msg := err.Error()
	var secrets []string
	if u, perr := url.Parse(raw); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			secrets = append(secrets, p)
		}
	}
	if _, rest, ok := strings.Cut(raw, "?"); ok {
		secrets = append(secrets, queryPasswords(rest)...)
	}
	for _, p := range secrets {
		msg = strings.ReplaceAll(msg, p, "xxxxx")
	}
	msg = strings.ReplaceAll(msg, raw, RedactURL(raw))
	return fmt.Errorf("%s", msg)
}
