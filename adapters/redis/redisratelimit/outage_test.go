package redisratelimit_test

import (
	"context"
	"github.com/bulwark-go/bulwark"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// proxy stands between clients and Redis so that a test can take Redis
// away: stop closes the listener and every connection, as a server that
// went down; hang keeps connections open but stops passing requests on,
// as a server that stopped answering.
type proxy struct {
	ln     net.Listener
	target string
	hung   atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newProxy(t *testing.T) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, target: testenv.RedisAddr(t)}
	p.wg.Go(p.accept)
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Go(func() { p.forward(up, c) })
		p.wg.Go(func() { p.forward(c, up) })
	}
}

// forward copies src to dst, dropping what it reads while the proxy hangs.
func (p *proxy) forward(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if p.hung.Load() {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (p *proxy) hang() { p.hung.Store(true) }

func (p *proxy) stop() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// keyedVia returns a limiter on a store whose client reaches Redis through
// a new proxy, having checked that a call goes through.
func keyedVia(t *testing.T, opt redis.Options) (*ratelimit.Keyed, *proxy) {
	_, _, prefix := newStore(t) // deletes the keys written through the proxy
	p := newProxy(t)
	opt.Addr = p.addr()
	c := redis.NewClient(&opt)
	t.Cleanup(func() { c.Close() })
	k, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{
		Config: ratelimit.Config{Limit: 100, Period: time.Second},
		Store:  storeOn(t, c, prefix),
	})
	require.NoError(t, err)
	require.NoError(t, k.Allow("k"))
	return k, p
}

// noRetries are client options for a limiter in front of requests: one
// attempt, one dial, so that a Redis that is down costs a call one refused
// connection (go-redis's defaults try 4 times, dialling 5 times each).
var noRetries = redis.Options{MaxRetries: -1, DialerRetries: 1}

// TestRedisGoneAway: when Redis goes down or stops answering, the limiter
// returns the store's error promptly, bounded by a short ctx or by the
// client's settings, and it is not a rejection.
func TestRedisGoneAway(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  redis.Options
		hang bool // else stop
		ctx  bool // call Wait with a 100 ms ctx, else Allow
	}{
		{"down, a short ctx", redis.Options{}, false, true},
		{"down, no retries", noRetries, false, false},
		// Only with ContextTimeoutEnabled does a ctx deadline reach the
		// read; else the client's ReadTimeout (5 s by default) bounds it.
		{"not answering, a short ctx", redis.Options{ContextTimeoutEnabled: true}, true, true},
		{"not answering, a short ReadTimeout", redis.Options{ReadTimeout: 100 * time.Millisecond, MaxRetries: -1}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, p := keyedVia(t, tc.opt)
			if tc.hang {
				p.hang()
			} else {
				p.stop()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			var err error
			if tc.ctx {
				err = k.Wait(ctx, "k")
			} else {
				err = k.Allow("k")
			}
			elapsed := time.Since(start)
			require.Error(t, err)
			assert.NotErrorIs(t, err, ratelimit.ErrLimited)
			assert.Contains(t, err.Error(), `ratelimit: store: redisratelimit: key "k": `)
			assert.Less(t, elapsed, time.Second, "the error took %v", elapsed)
			if tc.ctx {
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			}
			t.Logf("after %v: %v", elapsed, err)
		})
	}
}

// TestRedisDownThroughBulwarkHTTP: a server limited through Redis keeps
// serving while Redis is down, or answers 503 with FailClosed.
func TestRedisDownThroughBulwarkHTTP(t *testing.T) {
	for _, failClosed := range []bool{false, true} {
		k, p := keyedVia(t, noRetries)
		var storeErrs atomic.Int64
		rl, err := bulwarkhttp.NewRateLimiter(k, bulwarkhttp.RateLimiterConfig{
			FailClosed: failClosed,
			Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
				if _, ok := e.(bulwarkhttp.LimiterFailed); ok {
					storeErrs.Add(1)
				}
			}),
		})
		require.NoError(t, err)
		h := rl.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
		p.stop()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		want := http.StatusNoContent
		if failClosed {
			want = http.StatusServiceUnavailable
		}
		assert.Equal(t, want, w.Code, "FailClosed %v", failClosed)
		assert.EqualValues(t, 1, storeErrs.Load())
	}
}
