package bulwarkgrpc

import (
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark"
	"google.golang.org/grpc/codes"
)

// The events of this package. Each is reported to the Observer of the
// interceptor named in its comment, synchronously, on the goroutine
// serving the call and with the call's context, before the status is
// returned.
var (
	_ bulwark.Event = Shed{}
	_ bulwark.Event = Limited{}
	_ bulwark.Event = LimiterFailed{}
	_ bulwark.Event = HealthChanged{}
)

// Shed is reported by a Shedder for each call its policy rejected, with
// the policy's error and the status code the client got.
type Shed struct {
	Name   string // the Shedder's ShedderConfig.Name
	Method string // "/pkg.Service/Method"
	Code   codes.Code
	Err    error
}

func (Shed) Kind() string        { return "bulwarkgrpc.shed" }
func (e Shed) Component() string { return e.Name }
func (e Shed) LogValue() slog.Value {
	return slog.GroupValue(slog.String("method", e.Method), slog.String("code", e.Code.String()), slog.Any("error", e.Err))
}

// Limited is reported by a RateLimiter for each call over its client's
// limit, with the client's key and the limiter's wait until its next
// permit (sent as the pushback).
type Limited struct {
	Name   string // the RateLimiter's RateLimiterConfig.Name
	Method string
	Key    string
	Wait   time.Duration
}

func (Limited) Kind() string        { return "bulwarkgrpc.limited" }
func (e Limited) Component() string { return e.Name }
func (e Limited) LogValue() slog.Value {
	return slog.GroupValue(slog.String("method", e.Method), slog.String("key", e.Key), slog.Duration("wait", e.Wait))
}

// LimiterFailed is reported by a RateLimiter when its Limiter failed
// (rather than limited) for a call: the call is then served, or answered
// UNAVAILABLE with RateLimiterConfig.FailClosed.
type LimiterFailed struct {
	Name   string // the RateLimiter's RateLimiterConfig.Name
	Method string
	Key    string
	Err    error
}

func (LimiterFailed) Kind() string        { return "bulwarkgrpc.limiter_failed" }
func (e LimiterFailed) Component() string { return e.Name }
func (e LimiterFailed) LogValue() slog.Value {
	return slog.GroupValue(slog.String("method", e.Method), slog.String("key", e.Key), slog.Any("error", e.Err))
}

// HealthChanged is reported by a Health when it set its service's serving
// status, with the reason: the component whose event caused it.
type HealthChanged struct {
	Name    string // the Health's HealthConfig.Name
	Service string // the health service name set
	Serving bool
	Cause   string // the component (and key) whose event caused the change
}

func (HealthChanged) Kind() string        { return "bulwarkgrpc.health_changed" }
func (e HealthChanged) Component() string { return e.Name }
func (e HealthChanged) LogValue() slog.Value {
	return slog.GroupValue(slog.String("service", e.Service), slog.Bool("serving", e.Serving), slog.String("cause", e.Cause))
}
