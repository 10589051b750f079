package bulwarkhttp

import (
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark"
)

// The events of this package. Each is reported to the Observer of the
// middleware named in its comment, synchronously, on the goroutine serving
// the request and with the request's context, before the answer is
// written.
var (
	_ bulwark.Event = Shed{}
	_ bulwark.Event = Limited{}
	_ bulwark.Event = LimiterFailed{}
)

// Shed is reported by a Shedder for each request its policy rejected,
// with the policy's error.
type Shed struct {
	Name   string // the Shedder's ShedderConfig.Name
	Method string
	Path   string
	Err    error
}

func (Shed) Kind() string        { return "bulwarkhttp.shed" }
func (e Shed) Component() string { return e.Name }
func (e Shed) LogValue() slog.Value {
	return slog.GroupValue(slog.String("method", e.Method), slog.String("path", e.Path), slog.Any("error", e.Err))
}

// Limited is reported by a RateLimiter for each request over its client's
// limit, with the client's key and the limiter's wait until its next
// permit (sent in Retry-After rounded up to whole seconds).
type Limited struct {
	Name string // the RateLimiter's RateLimiterConfig.Name
	Key  string
	Wait time.Duration
}

func (Limited) Kind() string        { return "bulwarkhttp.limited" }
func (e Limited) Component() string { return e.Name }
func (e Limited) LogValue() slog.Value {
	return slog.GroupValue(slog.String("key", e.Key), slog.Duration("wait", e.Wait))
}

// LimiterFailed is reported by a RateLimiter when its Limiter failed
// (rather than limited) for a request: the request is then served, or
// answered 503 with RateLimiterConfig.FailClosed.
type LimiterFailed struct {
	Name string // the RateLimiter's RateLimiterConfig.Name
	Key  string
	Err  error
}

func (LimiterFailed) Kind() string        { return "bulwarkhttp.limiter_failed" }
func (e LimiterFailed) Component() string { return e.Name }
func (e LimiterFailed) LogValue() slog.Value {
	return slog.GroupValue(slog.String("key", e.Key), slog.Any("error", e.Err))
}
