package redisratelimit

import (
	_ "embed" // the Lua scripts

	"github.com/redis/go-redis/v9"
)

// Each script is wide.lua's integer arithmetic, state.lua's reading and
// expiring of state, and one rule kind's algorithm. go-redis runs it with
// EVALSHA, and with EVAL when the server does not have it (yet, or any
// more, after a restart or SCRIPT FLUSH), which loads it again.
var (
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

// newScripts returns the scripts with extra Lua between the shared code
// and each algorithm (tests use it to shadow a function).
func newScripts(extra string) scripts {
	return scripts{
		tokenBucket:   redis.NewScript(wideLua + stateLua + extra + tokenBucketLua),
		slidingWindow: redis.NewScript(wideLua + stateLua + extra + slidingWindowLua),
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
