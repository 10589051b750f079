// Package idempotency measures what idempotency keys cost per HTTP request:
// the middleware's overhead on the memory store, and requests per second
// and database round trips per request on PostgreSQL and Redis, for new
// keys (claim + complete) and for replays.
package idempotency

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/postgres/pgidempotency"
	"github.com/bulwark-go/bulwark/adapters/redis/redisidempotency"
	"github.com/bulwark-go/bulwark/benchmarks/internal/benchpg"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

const body = `{"account":"acct-1","amount":500}`

// handler is the endpoint behind the middleware: a small JSON response.
var handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(`{"payment_id":"pay_1","charged":500}`))
})

func middleware(b *testing.B, s idempotency.Store) http.Handler {
	k, err := idempotency.New(s, idempotency.Config{})
	if err != nil {
		b.Fatal(err)
	}
	m, err := bulwarkhttp.NewIdempotency(k, bulwarkhttp.IdempotencyConfig{
		Scope: func(r *http.Request) string { return r.Header.Get("X-Client") },
	})
	if err != nil {
		b.Fatal(err)
	}
	return m.Handler(handler)
}

func randomName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// serve sends requests in parallel: with key=new each carries a key never
// seen before, with key=replay all carry one key completed beforehand.
func serve(b *testing.B, h http.Handler, newKeys bool) {
	run := randomName()
	var seq atomic.Int64
	if !newKeys {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, request(run+"-replayed"))
		if w.Code != http.StatusCreated {
			b.Fatalf("first request: %d %s", w.Code, w.Body)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := run + "-replayed"
			if newKeys {
				key = run + "-" + strconv.FormatInt(seq.Add(1), 10)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, request(key))
			if w.Code != http.StatusCreated {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

func request(key string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/payments", strings.NewReader(body))
	r.Header.Set(bulwarkhttp.HeaderIdempotencyKey, key)
	r.Header.Set("X-Client", "client-1")
	return r
}

// BenchmarkMiddlewareOverhead compares a handler behind the middleware on
// the memory store with the bare handler (impl=none), for new keys and
// replays. The difference is the middleware's cost per request.
func BenchmarkMiddlewareOverhead(b *testing.B) {
	for _, key := range []string{"new", "replay"} {
		b.Run("impl=bulwark/key="+key, func(b *testing.B) {
			serve(b, middleware(b, idempotency.NewMemoryStore()), key == "new")
		})
		b.Run("impl=none/key="+key, func(b *testing.B) {
			serve(b, handler, key == "new")
		})
	}
}

// roundTrips counts the statements pgx sends: with its statement cache
// warm, one statement is one round trip.
type roundTrips struct{ n atomic.Int64 }

func (c *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// BenchmarkPostgres measures requests through the middleware on
// pgidempotency: req/s, and roundtrips/op counted by a pgx tracer (target:
// 2 for a new key, claim and complete; 1 for a replay).
func BenchmarkPostgres(b *testing.B) {
	ctx := context.Background()
	tracer := &roundTrips{}
	pool, _ := benchpg.Pool(b, func(cfg *pgxpool.Config) { cfg.ConnConfig.Tracer = tracer })
	s, err := pgidempotency.New(pool, pgidempotency.Config{})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	h := middleware(b, s)
	for _, key := range []string{"new", "replay"} {
		b.Run("impl=bulwark/key="+key, func(b *testing.B) {
			serve(b, h, key == "new") // warms the statement cache too
			b.ReportMetric(serveN(b, h, key == "new", 200, tracer.n.Load), "roundtrips/op")
		})
	}
}

// serveN sends n more requests one by one, with the timer stopped, for
// counting: n new keys, or n replays of a key completed beforehand.
func serveN(b *testing.B, h http.Handler, newKeys bool, n int, count func() int64) float64 {
	b.StopTimer()
	defer b.StartTimer()
	run := randomName()
	if !newKeys {
		h.ServeHTTP(httptest.NewRecorder(), request(run+"-replayed"))
	}
	before := count()
	for i := range n {
		key := run + "-replayed"
		if newKeys {
			key = run + "-" + strconv.Itoa(i)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, request(key))
		if w.Code != http.StatusCreated {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	return float64(count()-before) / float64(n)
}

// BenchmarkRedis measures requests through the middleware on
// redisidempotency: req/s and roundtrips/op (commands sent).
func BenchmarkRedis(b *testing.B) {
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(b), PoolSize: 32})
	defer c.Close()
	counter := &commandCounter{}
	c.AddHook(counter)
	prefix := "bench:" + randomName() + ":"
	defer func() {
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Unlink(ctx, iter.Val())
		}
	}()
	s, err := redisidempotency.New(c, redisidempotency.Config{Prefix: prefix})
	if err != nil {
		b.Fatal(err)
	}
	h := middleware(b, s)
	for _, key := range []string{"new", "replay"} {
		b.Run("impl=bulwark/key="+key, func(b *testing.B) {
			serve(b, h, key == "new")
			b.ReportMetric(serveN(b, h, key == "new", 200, counter.n.Load), "roundtrips/op")
		})
	}
}

// commandCounter counts the commands a go-redis client sends.
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
