package idempotencytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memoryCounter counts in process memory, for stores without a database
// of their own to count in.
type memoryCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *memoryCounter) Incr(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[key]++
	return nil
}

func (c *memoryCounter) Get(_ context.Context, key string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key], nil
}

type response struct {
	status int
	charge string
	body   string
}

// testDuplicateRequests sends keys*perKey concurrent requests, perKey with
// each key, through bulwarkhttp's Idempotency middleware over h.Store. The
// handler runs exactly once per key (counted in the database when
// h.Counter is set), and every duplicate gets the first response byte for
// byte or 409.
func testDuplicateRequests(t *testing.T, h Harness, keys, perKey int) {
	t.Run("light", func(t *testing.T) { duplicateRequests(t, h, 5, 20) })
	t.Run("1000", func(t *testing.T) {
		testenv.SkipUnderRace(t)
		duplicateRequests(t, h, keys, perKey)
	})
}

func duplicateRequests(t *testing.T, h Harness, keys, perKey int) {
	counter := h.Counter
	if counter == nil {
		counter = NewMemoryCounter()
	}
	// Two servers share the store: duplicates on one wait for the first
	// response, on the other they get 409 at once.
	run := RandomName("run-")
	var urls [2]string
	for i, wait := range []time.Duration{300 * time.Millisecond, 0} {
		k, err := idempotency.New(h.Store, idempotency.Config{Wait: wait, PollInterval: 10 * time.Millisecond})
		require.NoError(t, err)
		m, err := bulwarkhttp.NewIdempotency(k, bulwarkhttp.IdempotencyConfig{
			Required: true,
			Scope:    func(r *http.Request) string { return r.Header.Get("X-Client") },
		})
		require.NoError(t, err)
		srv := httptest.NewServer(m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := r.Header.Get(bulwarkhttp.HeaderIdempotencyKey)
			if err := counter.Incr(r.Context(), key); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			time.Sleep(20 * time.Millisecond) // the charge takes a while, so duplicates overlap it
			var id [8]byte
			_, _ = rand.Read(id[:])
			w.Header().Set("X-Charge-Id", hex.EncodeToString(id[:]))
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"charge":"%x","key":%q}`, id, key)
		})))
		defer srv.Close()
		urls[i] = srv.URL
	}
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 64, MaxIdleConnsPerHost: 64}, Timeout: time.Minute}
	defer client.CloseIdleConnections()

	total := keys * perKey
	results := make([][]response, keys)
	for i := range results {
		results[i] = make([]response, perKey)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	var failures atomic.Int32
	for i := range total {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			key, n := i%keys, i/keys
			req, _ := http.NewRequest(http.MethodPost, urls[n%2]+"/charges", strings.NewReader(`{"amount":100}`))
			req.Header.Set(bulwarkhttp.HeaderIdempotencyKey, fmt.Sprint(run, "key-", key))
			req.Header.Set("X-Client", "client-a")
			resp, err := client.Do(req)
			if err != nil {
				failures.Add(1)
				t.Errorf("request %d: %v", i, err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results[key][n] = response{resp.StatusCode, resp.Header.Get("X-Charge-Id"), string(body)}
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	require.Zero(t, failures.Load())

	var firsts, replays, conflicts int
	for key := range keys {
		runs, err := counter.Get(ctx, fmt.Sprint(run, "key-", key))
		require.NoError(t, err)
		assert.Equal(t, 1, runs, "handler runs for key-%d", key)
		var first *response
		for n := range results[key] {
			r := &results[key][n]
			switch r.status {
			case http.StatusConflict:
				conflicts++
				continue
			case http.StatusCreated:
			default:
				t.Errorf("key-%d: status %d: %s", key, r.status, r.body)
				continue
			}
			if first == nil {
				first = r
				firsts++
				continue
			}
			replays++
			assert.Equal(t, *first, *r, "key-%d: a duplicate got a different response", key)
		}
		require.NotNil(t, first, "key-%d: no request got a response", key)
	}
	t.Logf("%d concurrent requests over %d keys in %v: handler ran once per key (%d runs counted), %d identical replays, %d got 409",
		total, keys, time.Since(began).Round(time.Millisecond), firsts, replays, conflicts)
}

// NewMemoryCounter returns a Counter in process memory.
func NewMemoryCounter() Counter { return &memoryCounter{n: map[string]int{}} }
