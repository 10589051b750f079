package pgoutbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/bulwark-go/bulwark/outbox"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// claimSQL claims up to $1 pending messages. It reads the first $1
// pending messages in seq order ($2 is now), leaving out keys waiting for a
// retry and (unless $3) messages after a dead letter of their key; then it
// locks the oldest of these messages of each key (the key's head) with FOR
// UPDATE SKIP LOCKED, and returns the messages of the keys whose head it
// locked. A claim thus holds a key by its head: another claim cannot lock
// that head, so it skips the whole key, and the key's later messages cannot
// become a head before the claim ends. One row lock per key, not per
// message, and no lock on rows the claim does not return.
//
// The scan takes no row locks, so it sees every pending row, held or not:
// a key's first row in the scan is its true head. (A key's messages commit
// in seq order, thanks to Enqueue's key lock, so when a row is visible,
// every earlier row of its key is visible or gone.) A head deleted or
// changed by a claim that committed after this statement's snapshot is
// re-checked by the lock and skipped. Rows of keys held by other claims
// come back with a NULL last column (the row's ctid otherwise, so that
// Finish deletes by ctid without index lookups; the rows cannot move while
// their key is held).
const claimSQL = `
WITH c AS (
	SELECT o.ctid, o.seq, o.id, o.topic, o.key, o.payload, o.headers, o.created_at, o.attempts
	FROM {{table}} o
	WHERE o.published_at IS NULL
	  AND NOT EXISTS (SELECT 1 FROM {{table}} r
	                  WHERE r.published_at IS NULL AND r.retry_at IS NOT NULL
	                    AND r.key = o.key AND r.retry_at > $2)
	  AND ($3 OR NOT EXISTS (SELECT 1 FROM {{dead_table}} d WHERE d.key = o.key AND d.seq < o.seq))
	ORDER BY o.seq
	LIMIT $1
), h AS (
	SELECT t.key FROM {{table}} t
	WHERE t.seq IN (SELECT min(seq) FROM c GROUP BY key)
	  AND t.published_at IS NULL AND (t.retry_at IS NULL OR t.retry_at <= $2)
	FOR UPDATE OF t SKIP LOCKED
)
SELECT c.seq, c.id, c.topic, c.key, c.payload, c.headers, c.created_at, c.attempts,
	CASE WHEN h.key IS NOT NULL THEN c.ctid END
FROM c LEFT JOIN h ON h.key = c.key
ORDER BY c.seq`

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
// relay publish those messages again. One round trip.
func (s *Store) Claim(ctx context.Context, req outbox.ClaimRequest) (outbox.Batch, error) {
	s.check()
	if req.Limit < 1 {
		return nil, fmt.Errorf("pgoutbox: ClaimRequest.Limit must be at least 1, got %d", req.Limit)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgoutbox: claiming: %w", err)
	}
	b := &batch{s: s, conn: conn}
	pb := &pgx.Batch{}
	s.queueClaim(pb, req)
	res := conn.SendBatch(ctx, pb)
	err = b.read(res)
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.end(ctx, false)
		return nil, fmt.Errorf("pgoutbox: claiming: %w", err)
	}
	return b, nil
}

// genericPlanLimit is the largest claim that runs the claim statement's
// cached generic plan (see queueClaim).
const genericPlanLimit = 20

// queueClaim adds a claim's statements to pb: three results, read by
// batch.read.
func (s *Store) queueClaim(pb *pgx.Batch, req outbox.ClaimRequest) {
	lease := "0"
	if req.Lease > 0 {
		lease = strconv.FormatInt(max(req.Lease.Milliseconds(), 1), 10)
	}
	pb.Queue("BEGIN")
	// Planning the claim afresh costs more than running it for small
	// batches (about 0.5 ms against 0.1 ms for one message): those run
	// the cached generic plan. Larger ones get a plan for their limit.
	planMode := "auto"
	if req.Limit <= genericPlanLimit {
		planMode = "force_generic_plan"
	}
	pb.Queue(`SELECT set_config('idle_in_transaction_session_timeout', $1, true),
		set_config('synchronous_commit', 'off', true),
		set_config('plan_cache_mode', $2, true)`, lease, planMode)
	pb.Queue(s.sql.claim, req.Limit, req.Now, req.SkipDeadLetters)
}

type batch struct {
	s         *Store
	conn      *pgxpool.Conn // nil once ended
	msgs      []outbox.Claimed
	seqs      []int64
	ctids     []pgtype.TID
	contended bool
}

func (b *batch) read(res pgx.BatchResults) error {
	for range 2 {
		if _, err := res.Exec(); err != nil {
			return err
		}
	}
	rows, err := res.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		seq       int64
		id        pgtype.UUID
		headers   []byte
		attempts  int32
		ctid      pgtype.TID
		createdAt time.Time
	)
	for rows.Next() {
		var m outbox.Claimed
		if err := rows.Scan(&seq, &id, &m.Topic, &m.Key, &m.Payload, &headers, &createdAt, &attempts, &ctid); err != nil {
			return err
		}
		if !ctid.Valid {
			b.contended = true // another claim holds the key
			continue
		}
		m.ID = id.Bytes
		m.CreatedAt = createdAt
		m.Attempts = int(attempts)
		if m.Headers, err = outbox.DecodeHeaders(headers); err != nil {
			return fmt.Errorf("decoding the headers of message %s: %w", m.ID, err)
		}
		b.msgs = append(b.msgs, m)
		b.seqs = append(b.seqs, seq)
		b.ctids = append(b.ctids, ctid)
	}
	return rows.Err()
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
	b.queueFinish(pb, o)
	err := b.conn.SendBatch(ctx, pb).Close()
	if err != nil {
		b.end(ctx, false)
		return fmt.Errorf("pgoutbox: recording a batch: %w: %w", outbox.ErrClaimLost, err)
	}
	b.end(ctx, true)
	return nil
}

// FinishAndClaim implements outbox.Chainer: the outcome, the commit and the
// next claim go to the server in one round trip, on the same connection.
func (b *batch) FinishAndClaim(ctx context.Context, o outbox.Outcome, next outbox.ClaimRequest) (outbox.Batch, error) {
	if b.conn == nil {
		return nil, errors.New("pgoutbox: batch already finished or released")
	}
	if next.Limit < 1 {
		return nil, fmt.Errorf("pgoutbox: ClaimRequest.Limit must be at least 1, got %d", next.Limit)
	}
	pb := &pgx.Batch{}
	finish := b.queueFinish(pb, o)
	b.s.queueClaim(pb, next)
	res := b.conn.SendBatch(ctx, pb)
	for range finish {
		if _, err := res.Exec(); err != nil {
			_ = res.Close()
			b.end(ctx, false)
			return nil, fmt.Errorf("pgoutbox: recording a batch: %w: %w", outbox.ErrClaimLost, err)
		}
	}
	nb := &batch{s: b.s, conn: b.conn}
	b.conn = nil
	err := nb.read(res)
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// The outcome is committed; only the next claim failed.
		nb.end(ctx, false)
		return nil, nil
	}
	return nb, nil
}

// queueFinish adds the statements that record o and commit to pb, and
// returns how many it added.
func (b *batch) queueFinish(pb *pgx.Batch, o outbox.Outcome) int {
	n := pb.Len()
	if len(o.Published) > 0 {
		ctids := make([]pgtype.TID, len(o.Published))
		for i, idx := range o.Published {
			ctids[i] = b.ctids[idx]
		}
		if o.Keep {
			pb.Queue(b.s.sql.keepPublished, ctids, o.Now)
		} else {
			pb.Queue(b.s.sql.deletePublished, ctids)
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
	return pb.Len() - n
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
