package redisratelimit

import (
	_ "embed" // the Lua scripts

	"github.com/redis/go-redis/v9"
)

// Each script is nanos.lua's exact arithmetic on nanoseconds, for the
// sliding window wide.lua's products, state.lua's expiry, and the rule
// kind's algorithm. go-redis runs it with EVALSHA, and with EVAL when the
// server does not have it (yet, or any more, after a restart or SCRIPT
// FLUSH), which loads it again.
var (
	//go:embed nanos.lua
	nanosLua string
	//go:embed wide.lua
	wideLua string
	//go:embed state.lua
	stateLua string
	//go:embed tokenbucket.lua
	tokenBucketLua string
	//go:embed slidingwindow.lua
	slidingWindowLua string
)

// scripts are the two scripts a Store runs.
type scripts struct {
	tokenBucket, slidingWindow *redis.Script
}

// newScripts returns the scripts with extra Lua before each algorithm
// (tests use it to shadow a function).
func newScripts(extra string) scripts {
	return scripts{
		tokenBucket:   redis.NewScript(nanosLua + stateLua + extra + tokenBucketLua),
		slidingWindow: redis.NewScript(nanosLua + wideLua + stateLua + extra + slidingWindowLua),
	}
}

var defaultScripts = newScripts("")

// maxExactLimit is the largest Limit the sliding window script is given.
// Lua holds integers exactly up to 2^53 and the script refuses to count
// beyond 2^36 calls in a window, so every larger Limit decides alike.
const maxExactLimit = 1 << 53

// luaLimit returns the Limit to pass to the sliding window script.
func luaLimit(limit int) int64 {
	return min(int64(limit), maxExactLimit)
}

// split returns the pair s, n the scripts read as s*1e9 + n nanoseconds,
// with n in [0, 1e9).
func split(ns int64) (s, n int64) {
	n = floorMod(ns, 1e9)
	return (ns - n) / 1e9, n
}
