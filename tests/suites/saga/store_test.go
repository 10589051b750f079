package saga_test

import (
	"context"
	"slices"
	"time"

	"github.com/bulwark-go/bulwark/saga"
)

// store is a saga.Store of this package: it keeps sagas in a
// saga.MemoryStore, and has the deliberate defect flaw names ("" for
// none).
type store struct {
	mem  *saga.MemoryStore
	flaw string
}

var _ saga.Store = (*store)(nil)

func (s *store) Create(ctx context.Context, rec saga.Record) error { return s.mem.Create(ctx, rec) }

func (s *store) Get(ctx context.Context, id string) (saga.Record, error) { return s.mem.Get(ctx, id) }

func (s *store) Update(ctx context.Context, rec saga.Record) error {
	switch s.flaw {
	case "unfenced-update": // writes whatever version is stored
		if cur, err := s.mem.Get(ctx, rec.ID); err == nil {
			rec.Version = cur.Version
		}
	case "drops-data-updates": // keeps the data the saga was created with
		if cur, err := s.mem.Get(ctx, rec.ID); err == nil {
			rec.Data = cur.Data
		}
	}
	return s.mem.Update(ctx, rec)
}

func (s *store) Claim(ctx context.Context, name, owner string, now, until time.Time, limit int) ([]saga.Record, error) {
	switch s.flaw {
	case "claims-live-leases": // judges leases a day ahead
		now = now.Add(24 * time.Hour)
	case "claim-ignores-limit":
		limit++
	}
	return s.mem.Claim(ctx, name, owner, now, until, limit)
}

func (s *store) Renew(ctx context.Context, owner string, ids []string, until time.Time) error {
	if s.flaw == "renews-any-owner" { // renews each saga for whoever holds it
		for _, id := range ids {
			if cur, err := s.mem.Get(ctx, id); err == nil {
				if err := s.mem.Renew(ctx, cur.Owner, []string{id}, until); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return s.mem.Renew(ctx, owner, ids, until)
}

func (s *store) List(ctx context.Context, q saga.ListQuery) ([]saga.Record, error) {
	recs, err := s.mem.List(ctx, q)
	if s.flaw == "list-unordered" {
		slices.Reverse(recs)
	}
	return recs, err
}
