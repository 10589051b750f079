package pgoutbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/bulwark-go/bulwark/outbox"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// claimSQL locks up to $1 pending messages in seq order, skipping those
// locked by other claims, those waiting for a retry ($2 is now), and those
// whose key waits for a retry or (unless $3) has an earlier dead letter. For
// each locked row it reports whether a pending row of its key lies between
// it and the previous locked row of that key (or before it, for the first):
// such a gap is a message held by another claim, and the rows after it
// must wait. {{only}} is empty, or restricts the claim to the seqs in $4.
//
// The gap check runs in the same statement, so it sees the same snapshot as
// the scan. A key's messages commit in seq order (Enqueue's key lock), so a
// visible row means every earlier row of its key is visible too, or gone.
const claimSQL = `
WITH c AS (
	SELECT o.seq, o.id, o.topic, o.key, o.payload, o.headers, o.created_at, o.attempts
	FROM {{table}} o
	WHERE o.published_at IS NULL {{only}}
	  AND (o.retry_at IS NULL OR o.retry_at <= $2)
	  AND NOT EXISTS (SELECT 1 FROM {{table}} r
	                  WHERE r.published_at IS NULL AND r.retry_at IS NOT NULL
	                    AND r.key = o.key AND r.retry_at > $2)
	  AND ($3 OR NOT EXISTS (SELECT 1 FROM {{dead_table}} d WHERE d.key = o.key AND d.seq < o.seq))
	ORDER BY o.seq
	LIMIT $1
	FOR UPDATE OF o SKIP LOCKED
), w AS (
	SELECT c.*, lag(c.seq, 1, 0::bigint) OVER (PARTITION BY c.key ORDER BY c.seq) AS prev FROM c
)
SELECT w.seq, w.id, w.topic, w.key, w.payload, w.headers, w.created_at, w.attempts,
	EXISTS (SELECT 1 FROM {{table}} p
	        WHERE p.published_at IS NULL AND p.key = w.key AND p.seq < w.seq AND p.seq > w.prev) AS gap
FROM w ORDER BY w.seq`

// maxClaimPasses bounds how often a claim that found messages held back by
// other claims retries with just the rest (see Claim).
const maxClaimPasses = 3

const retrySQL = `
UPDATE {{table}} t SET attempts = t.attempts + 1, retry_at = u.at, last_error = u.err
FROM unnest($1::int8[], $2::timestamptz[], $3::text[]) AS u(seq, at, err)
WHERE t.seq = u.seq`

const burySQL = `
WITH f AS (SELECT * FROM unnest($1::int8[], $2::text[]) AS f(seq, err)),
m AS (DELETE FROM {{table}} t USING f WHERE t.seq = f.seq
      RETURNING t.seq, t.id, t.topic, t.key, t.payload, t.headers, t.created_at, t.attempts, f.err)
INSERT INTO {{dead_table}} (seq, id, topic, key, payload, headers, created_at, attempts, last_error, dead_at)
SELECT seq, id, topic, key, payload, headers, created_at, attempts + 1, err, $3 FROM m`

// Claim implements outbox.Store. It begins a transaction on a connection of
// its own, with idle_in_transaction_session_timeout set to req.Lease (the
// server ends a claim its relay abandoned) and synchronous_commit off: the
// relay's bookkeeping may be lost in a server crash, which only makes the
// relay publish those messages again. One round trip, plus one more per
// pass when other claims hold earlier messages of some keys: the claim then
// rolls back to a savepoint, so that it does not keep those keys' later
// messages locked, and locks just the messages it can publish.
func (s *Store) Claim(ctx context.Context, req outbox.ClaimRequest) (outbox.Batch, error) {
	if req.Limit < 1 {
		return nil, fmt.Errorf("pgoutbox: ClaimRequest.Limit must be at least 1, got %d", req.Limit)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgoutbox: claiming: %w", err)
	}
	b := &batch{s: s, conn: conn}
	lease := "0"
	if req.Lease > 0 {
		lease = strconv.FormatInt(max(req.Lease.Milliseconds(), 1), 10)
	}
	pb := &pgx.Batch{}
	pb.Queue("BEGIN")
	pb.Queue("SELECT set_config('idle_in_transaction_session_timeout', $1, true), set_config('synchronous_commit', 'off', true)", lease)
	pb.Queue("SAVEPOINT claim")
	pb.Queue(s.sql.claim, req.Limit, req.Now, req.SkipDeadLetters)
	dropped, err := b.send(ctx, pb, 3)
	for pass := 1; err == nil && dropped; pass++ {
		b.contended = true
		pb = &pgx.Batch{}
		pb.Queue("ROLLBACK TO SAVEPOINT claim")
		if pass == maxClaimPasses {
			b.msgs, b.seqs = nil, nil
			_, err = b.send(ctx, pb, 1)
			break
		}
		pb.Queue(s.sql.claimOnly, len(b.seqs), req.Now, req.SkipDeadLetters, b.seqs)
		dropped, err = b.send(ctx, pb, 1)
	}
	if err != nil {
		b.end(ctx, false)
		return nil, fmt.Errorf("pgoutbox: claiming: %w", err)
	}
	return b, nil
}

// send runs pb, whose last statement is a claim after skip others, and
// keeps the claimed rows. It reports whether rows were dropped because an
// earlier message of their key is held elsewhere.
func (b *batch) send(ctx context.Context, pb *pgx.Batch, skip int) (dropped bool, err error) {
	res := b.conn.SendBatch(ctx, pb)
	defer func() {
		if cerr := res.Close(); err == nil {
			err = cerr
		}
	}()
	for range skip {
		if _, err := res.Exec(); err != nil {
			return false, err
		}
	}
	if len(pb.QueuedQueries) == skip {
		return false, nil
	}
	return b.read(res)
}

type batch struct {
	s         *Store
	conn      *pgxpool.Conn // nil once ended
	msgs      []outbox.Claimed
	seqs      []int64
	contended bool
}

func (b *batch) read(res pgx.BatchResults) (dropped bool, err error) {
	rows, err := res.Query()
	if err != nil {
		return false, err
	}
	defer rows.Close()
	b.msgs, b.seqs = b.msgs[:0], b.seqs[:0]
	blocked := map[string]bool{}
	var (
		seq       int64
		id        pgtype.UUID
		headers   []byte
		attempts  int32
		gap       bool
		createdAt time.Time
	)
	for rows.Next() {
		var m outbox.Claimed
		if err := rows.Scan(&seq, &id, &m.Topic, &m.Key, &m.Payload, &headers, &createdAt, &attempts, &gap); err != nil {
			return false, err
		}
		if gap || blocked[m.Key] {
			// An earlier message of the key is held by another claim:
			// this one and the key's later ones wait.
			blocked[m.Key] = true
			dropped = true
			continue
		}
		m.ID = id.Bytes
		m.CreatedAt = createdAt
		m.Attempts = int(attempts)
		if headers != nil {
			if err := json.Unmarshal(headers, &m.Headers); err != nil {
				return false, fmt.Errorf("decoding the headers of message %s: %w", m.ID, err)
			}
		}
		b.msgs = append(b.msgs, m)
		b.seqs = append(b.seqs, seq)
	}
	return dropped, rows.Err()
}

func (b *batch) Messages() []outbox.Claimed { return b.msgs }
func (b *batch) Contended() bool            { return b.contended }

// Finish implements outbox.Batch: one round trip with the updates and the
// commit.
func (b *batch) Finish(ctx context.Context, o outbox.Outcome) error {
	if b.conn == nil {
		return errors.New("pgoutbox: batch already finished or released")
	}
	pb := &pgx.Batch{}
	if len(o.Published) > 0 {
		seqs := make([]int64, len(o.Published))
		for i, idx := range o.Published {
			seqs[i] = b.seqs[idx]
		}
		if o.Keep {
			pb.Queue(b.s.sql.keepPublished, seqs, o.Now)
		} else {
			pb.Queue(b.s.sql.deletePublished, seqs)
		}
	}
	var retrySeqs, deadSeqs []int64
	var retryAt []time.Time
	var retryErr, deadErr []string
	for _, f := range o.Failed {
		if f.Dead {
			deadSeqs = append(deadSeqs, b.seqs[f.Index])
			deadErr = append(deadErr, f.Error)
		} else {
			retrySeqs = append(retrySeqs, b.seqs[f.Index])
			retryAt = append(retryAt, f.RetryAt)
			retryErr = append(retryErr, f.Error)
		}
	}
	if len(retrySeqs) > 0 {
		pb.Queue(b.s.sql.retry, retrySeqs, retryAt, retryErr)
	}
	if len(deadSeqs) > 0 {
		pb.Queue(b.s.sql.bury, deadSeqs, deadErr, o.Now)
	}
	pb.Queue("COMMIT")
	err := b.conn.SendBatch(ctx, pb).Close()
	if err != nil {
		b.end(ctx, false)
		return fmt.Errorf("pgoutbox: recording a batch: %w: %w", outbox.ErrClaimLost, err)
	}
	b.end(ctx, true)
	return nil
}

// Release implements outbox.Batch: it rolls the claim's transaction back.
func (b *batch) Release(ctx context.Context) error {
	if b.conn != nil {
		b.end(ctx, false)
	}
	return nil
}

// end returns the connection to the pool, after rolling back unless the
// transaction committed. A connection whose rollback fails is closed, so no
// transaction (and no lock) outlives the batch.
func (b *batch) end(ctx context.Context, committed bool) {
	conn := b.conn
	b.conn = nil
	if !committed && !conn.Conn().IsClosed() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if _, err := conn.Exec(rctx, "ROLLBACK"); err != nil {
			_ = conn.Conn().Close(rctx)
		}
		cancel()
	}
	conn.Release()
}
