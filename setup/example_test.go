package setup_test

import (
	"fmt"
	"os"

	"github.com/jobrunner/jobrunner/setup"
)

// ExampleParseRedisURL reads REDIS_URL the way cmd/worker and cmd/enqueue
// do: errors name the part at fault and never the password, and RedactURL
// is how the URL reaches a log line.
func ExampleParseRedisURL() {
	for _, url := range []string{
		"redis://app:s3cret@redis.internal:6379/2",
		"redis-sentinel://:sentinelpass@s1:26379,s2:26379?master=mymaster",
		"redis-cluster://n1:6379?addr=n2:6379&addr=n3:6379",
		"redis://app:s3cret@redis.internal:notaport",
	} {
		opts, err := setup.ParseRedisURL(url)
		if err != nil {
			fmt.Printf("%s: %v\n", setup.RedactURL(url), err)
			continue
		}
		fmt.Printf("%s: addrs %v, master %q, cluster %v\n", setup.RedactURL(url), opts.Addrs, opts.MasterName, opts.IsClusterMode)
	}
	// Output:
	// redis://app:xxxxx@redis.internal:6379/2: addrs [redis.internal:6379], master "", cluster false
	// redis-sentinel://:xxxxx@s1:26379,s2:26379?master=mymaster: addrs [s1:26379 s2:26379], master "mymaster", cluster false
	// redis-cluster://n1:6379?addr=n2:6379&addr=n3:6379: addrs [n1:6379 n2:6379 n3:6379], master "", cluster true
	// redis://app:xxxxx@redis.internal:notaport: port "notaport" is not a number
}

// ExampleNewRedisClient builds the client a runner takes: it honours
// context deadlines on a Redis that hangs and follows cluster failovers.
func ExampleNewRedisClient() {
	opts, err := setup.ParseRedisURL(os.Getenv("REDIS_URL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "REDIS_URL:", err)
		os.Exit(2)
	}
	rdb := setup.NewRedisClient(opts)
	defer rdb.Close()
	// runner.New(runner.Config{Redis: rdb}) ...
}
