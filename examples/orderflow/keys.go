package main

import (
	"context"
	"net/http"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/idempotency"
)

// idempotencyKeys is what the order and payment services put in front of
// their handlers: the first request with a key runs the handler and its
// response is stored; every retry of it (same client, same key) gets that
// response back, and a retry that comes while the first still runs gets
// 409 with Retry-After. A 5xx means nothing was written (the transaction
// failed): its key is released, so that the retry runs again instead of
// getting the failure back (bulwarkhttp.ReleaseTransient, the default).
//
// Records expire after a day (idempotency.DefaultTTL); the Cleaner, a
// bulwark.Service run by the returned Group, deletes the expired ones.
type idempotencyKeys struct {
	*bulwarkhttp.Idempotency
	cleaning *bulwark.Group
}

// newIdempotencyKeys keeps its records in records, each key scoped to the
// client named by the request header scope; observer receives the keeper's
// events (Replayed, TakenOver).
func newIdempotencyKeys(records idempotency.Store, scope string, observer bulwark.Observer) (*idempotencyKeys, error) {
	keeper, err := idempotency.New(records, idempotency.Config{
		Lease:    30 * time.Second, // far longer than a request takes
		Observer: observer,
	})
	if err != nil {
		return nil, err
	}
	mw, err := bulwarkhttp.NewIdempotency(keeper, bulwarkhttp.IdempotencyConfig{
		Required: true,
		Scope:    func(r *http.Request) string { return r.Header.Get(scope) },
	})
	if err != nil {
		return nil, err
	}
	cleaner, err := idempotency.NewCleaner(keeper, idempotency.CleanerConfig{})
	if err != nil {
		return nil, err
	}
	return &idempotencyKeys{Idempotency: mw, cleaning: bulwark.Start(context.Background(), cleaner)}, nil
}

// close stops the Cleaner.
func (k *idempotencyKeys) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return k.cleaning.Stop(ctx)
}
