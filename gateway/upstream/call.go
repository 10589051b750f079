package upstream

import (
	"context"
	"slices"
	"sync"
)

type callKey struct{}

// call is the endpoints the attempts of one call have used.
type call struct {
	mu    sync.Mutex
	used  []string
	first [2]string // used's backing array for a call's first attempts
}

// NewCall marks ctx as the context of one call that may take several
// attempts (a retry policy's). Every RoundTrip whose request carries the
// returned context, or one derived from it, avoids the endpoints earlier
// attempts of the same call were sent to, while another eligible endpoint
// is left; once every eligible endpoint has been tried, attempts go to used
// ones again. bulwarkhttp.Transport runs its attempts with contexts derived
// from the request's, so a request made with NewCall's context and sent
// through a bulwarkhttp.Transport over a Pool has its retries moved to
// other endpoints. Without NewCall, each RoundTrip is a call of its own.
func NewCall(ctx context.Context) context.Context {
	return &callContext{Context: ctx} // one allocation, where WithValue and the call would take two
}

// callContext is a context carrying a call.
type callContext struct {
	context.Context
	call call
}

func (c *callContext) Value(key any) any {
	if key == (callKey{}) {
		return &c.call
	}
	return c.Context.Value(key)
}

func callOf(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

func (c *call) add(addr string) {
	c.mu.Lock()
	if !slices.Contains(c.used, addr) {
		if c.used == nil {
			c.used = c.first[:0]
		}
		c.used = append(c.used, addr)
	}
	c.mu.Unlock()
}

// snapshot returns the addresses used so far; nil for a nil call.
func (c *call) snapshot() []string {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.used)
}
