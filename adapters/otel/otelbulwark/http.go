package otelbulwark

import (
	"context"

	"github.com/bulwark-go/bulwark/bulwarkhttp"
)

// shed counts a request a Shedder rejected in bulwark.http.shed_requests,
// by the error.type of its policy's refusal: one atomic add once the series
// exists.
func (t *Telemetry) shed(e bulwarkhttp.Shed) {
	t.inst.httpShed.inc(series{name: e.Name, label: ErrorType(e.Err)})
}

// limited counts a request a RateLimiter rejected in
// bulwark.http.limited_requests: one atomic add once the series exists.
func (t *Telemetry) limited(e bulwarkhttp.Limited) {
	s := series{name: e.Name}
	if t.keys {
		s.key = e.Key
	}
	t.inst.httpLimited.inc(s)
}

// limiterFailed counts a request whose RateLimiter could not reach its
// limiter in bulwark.http.limiter_errors, with the error.type.
func (t *Telemetry) limiterFailed(ctx context.Context, e bulwarkhttp.LimiterFailed) {
	t.inst.httpLimiterErrors.Add(ctx, 1, with(e.Name, errorTypeKey.String(ErrorType(e.Err))))
}
