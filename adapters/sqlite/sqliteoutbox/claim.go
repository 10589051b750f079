package sqliteoutbox

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/outbox"
	"github.com/google/uuid"
)

// Claim implements outbox.Store. In one write transaction it reads the
// first req.Limit pending messages in order (leaving out keys waiting for a
// retry and, unless req.SkipDeadLetters, messages after a dead letter of
// their key), takes the keys none of whose messages is leased by another
// claim, and leases their oldest messages (the heads) until req.Now +
// req.Lease.
func (s *Store) Claim(ctx context.Context, req outbox.ClaimRequest) (outbox.Batch, error) {
	s.check()
	if req.Limit < 1 {
		return nil, fmt.Errorf("sqliteoutbox: ClaimRequest.Limit must be at least 1, got %d", req.Limit)
	}
	var tok [16]byte
	_, _ = rand.Read(tok[:])
	b := &batch{s: s, token: hex.EncodeToString(tok[:])}
	s.writes.Lock()
	defer s.writes.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqliteoutbox: claiming: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, s.sql.scan, req.Limit, req.Now.UnixNano(), req.SkipDeadLetters)
	if err != nil {
		return nil, fmt.Errorf("sqliteoutbox: claiming: %w", err)
	}
	type row struct {
		m            outbox.Claimed
		seq          int64
		id           string
		headers      sql.NullString
		created      int64
		claimedUntil sql.NullInt64
	}
	var read []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.seq, &r.id, &r.m.Topic, &r.m.Key, &r.m.Payload, &r.headers, &r.created, &r.m.Attempts, &r.claimedUntil); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqliteoutbox: claiming: %w", err)
		}
		read = append(read, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqliteoutbox: claiming: %w", err)
	}
	// A key is held while any of its messages is leased: usually its
	// oldest, but after a replay an older message may be free while a later
	// one is leased, possibly beyond this scan's limit. So the leases are
	// looked up over the whole table, not only among the rows read.
	now := req.Now.UnixNano()
	var keys []string // each key of the rows read, once
	listed := map[string]bool{}
	for _, r := range read {
		if !listed[r.m.Key] {
			listed[r.m.Key] = true
			keys = append(keys, r.m.Key)
		}
	}
	held, err := s.heldKeys(ctx, tx, keys, now)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, r := range read {
		if held[r.m.Key] {
			if !r.claimedUntil.Valid || r.claimedUntil.Int64 <= now {
				b.contended = true // ready, but its key is held
			}
			continue
		}
		m := r.m
		if m.ID, err = uuid.Parse(r.id); err != nil {
			return nil, fmt.Errorf("sqliteoutbox: claiming: message %d has a bad ID: %w", r.seq, err)
		}
		if m.Headers, err = decodeHeaders(r.headers); err != nil {
			return nil, err
		}
		m.CreatedAt = time.Unix(0, r.created)
		b.msgs = append(b.msgs, m)
		b.seqs = append(b.seqs, r.seq)
		if !seen[m.Key] {
			seen[m.Key] = true
			b.heads = append(b.heads, r.seq)
		}
	}
	if len(b.heads) == 0 {
		return b, nil
	}
	if _, err := tx.ExecContext(ctx, s.sql.lease, b.token, req.Now.Add(req.Lease).UnixNano(), seqList(b.heads)); err != nil {
		return nil, fmt.Errorf("sqliteoutbox: claiming: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqliteoutbox: claiming: %w", err)
	}
	b.leased = true
	return b, nil
}

// heldKeys returns which of keys have a message whose lease runs past now.
func (s *Store) heldKeys(ctx context.Context, tx *sql.Tx, keys []string, now int64) (map[string]bool, error) {
	held := map[string]bool{}
	if len(keys) == 0 {
		return held, nil
	}
	list, err := json.Marshal(keys)
	if err != nil {
		return nil, fmt.Errorf("sqliteoutbox: claiming: %w", err)
	}
	rows, err := tx.QueryContext(ctx, s.sql.held, now, string(list))
	if err != nil {
		return nil, fmt.Errorf("sqliteoutbox: claiming: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("sqliteoutbox: claiming: %w", err)
		}
		held[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqliteoutbox: claiming: %w", err)
	}
	return held, nil
}

type batch struct {
	s         *Store
	token     string
	msgs      []outbox.Claimed
	seqs      []int64
	heads     []int64
	contended bool
	leased    bool // heads leased and not yet finished or released
}

func (b *batch) Messages() []outbox.Claimed { return b.msgs }
func (b *batch) Contended() bool            { return b.contended }

// Finish implements outbox.Batch in one write transaction. It records
// nothing, and returns ErrClaimLost, when another claim took over a head
// after the lease ran out.
func (b *batch) Finish(ctx context.Context, o outbox.Outcome) error {
	if !b.leased {
		if len(b.heads) == 0 {
			return nil
		}
		return errors.New("sqliteoutbox: batch already finished or released")
	}
	b.leased = false
	s := b.s
	s.writes.Lock()
	defer s.writes.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqliteoutbox: recording a batch: %w", err)
	}
	defer tx.Rollback()
	var owned int
	if err := tx.QueryRowContext(ctx, s.sql.owned, b.token, seqList(b.heads)).Scan(&owned); err != nil {
		return fmt.Errorf("sqliteoutbox: recording a batch: %w", err)
	}
	if owned != len(b.heads) {
		return fmt.Errorf("sqliteoutbox: recording a batch: %w: its lease ran out and another claim took over", outbox.ErrClaimLost)
	}
	if len(o.Published) > 0 {
		seqs := make([]int64, len(o.Published))
		for i, idx := range o.Published {
			seqs[i] = b.seqs[idx]
		}
		if o.Keep {
			_, err = tx.ExecContext(ctx, s.sql.keepPublished, seqList(seqs), o.Now.UnixNano())
		} else {
			_, err = tx.ExecContext(ctx, s.sql.deletePublished, seqList(seqs))
		}
		if err != nil {
			return fmt.Errorf("sqliteoutbox: recording a batch: %w", err)
		}
	}
	for _, f := range o.Failed {
		seq := b.seqs[f.Index]
		if f.Dead {
			if _, err := tx.ExecContext(ctx, s.sql.bury, seq, f.Error, o.Now.UnixNano()); err != nil {
				return fmt.Errorf("sqliteoutbox: dead-lettering message %d: %w", seq, err)
			}
			_, err = tx.ExecContext(ctx, s.sql.unbury, seq)
		} else {
			_, err = tx.ExecContext(ctx, s.sql.retry, seq, f.RetryAt.UnixNano(), f.Error)
		}
		if err != nil {
			return fmt.Errorf("sqliteoutbox: recording a failed publish of message %d: %w", seq, err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.sql.release, b.token); err != nil {
		return fmt.Errorf("sqliteoutbox: recording a batch: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqliteoutbox: recording a batch: %w", err)
	}
	return nil
}

// Release implements outbox.Batch: it clears the claim's leases.
func (b *batch) Release(ctx context.Context) error {
	if !b.leased {
		return nil
	}
	b.leased = false
	b.s.writes.Lock()
	defer b.s.writes.Unlock()
	if _, err := b.s.db.ExecContext(context.WithoutCancel(ctx), b.s.sql.release, b.token); err != nil {
		return fmt.Errorf("sqliteoutbox: releasing a batch: %w", err)
	}
	return nil
}

// seqList encodes seqs as a JSON array, for json_each.
func seqList(seqs []int64) string {
	j, _ := json.Marshal(seqs)
	return string(j)
}
