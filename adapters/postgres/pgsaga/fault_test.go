package pgsaga_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgtest"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgsaga"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fault test's settings, passed to the orchestrator children.
const (
	faultSagas   = 1000
	faultDSNVar  = "BULWARK_SAGA_FAULT_DSN"
	faultSeedVar = "BULWARK_SAGA_FAULT_SEED"
	faultIDVar   = "BULWARK_SAGA_FAULT_INSTANCE"
	faultRevVar  = "BULWARK_SAGA_FAULT_REVERSE"
)

// The services the saga's steps call keep their effects in these tables.
// Each deduplicates by the idempotency key it is given (processed), and
// refuses an action whose compensation already ran (refused counts those).
// effects has no unique key of its own: a key that changed between
// invocations of one step would show up as a second effect.
const serviceSchema = `
CREATE TABLE processed (key text PRIMARY KEY);
CREATE TABLE effects (id bigserial PRIMARY KEY, saga text NOT NULL, step text NOT NULL, compensation boolean NOT NULL);
CREATE TABLE repeats (key text PRIMARY KEY, n integer NOT NULL);
CREATE TABLE refused (key text PRIMARY KEY);`

// faultPlan is what a saga's services will do, drawn from the seed and the
// saga's ID, so every process agrees.
type faultPlan struct {
	declineCharge bool // charging fails for good: the saga is compensated
	rejectConfirm bool // the pivot fails for good: the saga is compensated
	stuckRelease  bool // releasing the reservation always fails: needs attention if compensated
}

func planFor(seed uint64, id string) faultPlan {
	h := fnv.New64a()
	h.Write([]byte(id))
	rng := rand.New(rand.NewPCG(seed, h.Sum64()))
	return faultPlan{
		declineCharge: rng.IntN(100) < 10,
		rejectConfirm: rng.IntN(100) < 8,
		stuckRelease:  rng.IntN(100) < 5,
	}
}

func sagaID(i int) string { return fmt.Sprintf("order-%04d", i) }

type faultOrder struct {
	ID string `json:"id"`
}

var (
	errTransient   = errors.New("service unavailable")
	errLostReply   = errors.New("reply lost after the work was done")
	errDeclined    = errors.New("card declined")
	errRejected    = errors.New("order rejected")
	errOffline     = errors.New("warehouse offline")
	errCompensated = errors.New("refused: already compensated")
)

// service plays the downstream services: it fails at random before doing
// the work, or after (the caller cannot tell which), and applies each
// idempotency key once.
type service struct {
	pool *pgxpool.Pool
	seed uint64
}

func (s *service) call(ctx context.Context, inv saga.Invocation) error {
	plan := planFor(s.seed, inv.SagaID)
	switch {
	case !inv.Compensation && inv.Step == "charge" && plan.declineCharge:
		return retry.Permanent(errDeclined)
	case !inv.Compensation && inv.Step == "confirm" && plan.rejectConfirm:
		return retry.Permanent(errRejected)
	case inv.Compensation && inv.Step == "reserve" && plan.stuckRelease:
		return errOffline
	}
	time.Sleep(time.Duration(rand.IntN(4000)) * time.Microsecond) // the network
	if rand.IntN(100) < 8 {
		return errTransient
	}
	if err := s.apply(ctx, inv); err != nil {
		return err
	}
	// A pivot's failure must mean it took no effect, so only the other
	// steps lose replies.
	if inv.Step != "confirm" && rand.IntN(100) < 5 {
		return errLostReply
	}
	return nil
}

func (s *service) apply(ctx context.Context, inv saga.Invocation) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// One step's action and compensation take turns.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, inv.SagaID+"/"+inv.Step); err != nil {
			return err
		}
		if !inv.Compensation {
			comp := saga.Invocation{SagaID: inv.SagaID, Step: inv.Step, Compensation: true}.Key()
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM processed WHERE key = $1)`, comp).Scan(&done); err != nil {
				return err
			}
			if done {
				if _, err := tx.Exec(ctx, `INSERT INTO refused (key) VALUES ($1) ON CONFLICT DO NOTHING`, inv.Key()); err != nil {
					return err
				}
				return retry.Permanent(errCompensated)
			}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO processed (key) VALUES ($1) ON CONFLICT DO NOTHING`, inv.Key())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			_, err = tx.Exec(ctx, `INSERT INTO effects (saga, step, compensation) VALUES ($1, $2, $3)`, inv.SagaID, inv.Step, inv.Compensation)
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO repeats (key, n) VALUES ($1, 1) ON CONFLICT (key) DO UPDATE SET n = repeats.n + 1`, inv.Key())
		}
		return err
	})
}

func faultDefinition(svc *service) saga.Definition[faultOrder] {
	r, err := retry.New(retry.Config{
		MaxAttempts: 4,
		Backoff:     retry.Exponential{Initial: 5 * time.Millisecond, Jitter: retry.FullJitter},
		MaxDelay:    50 * time.Millisecond,
	})
	if err != nil {
		panic(err)
	}
	do := func(ctx context.Context, _ *faultOrder, inv saga.Invocation) error { return svc.call(ctx, inv) }
	return saga.Definition[faultOrder]{
		Name: "order",
		Steps: []saga.Step[faultOrder]{
			{Name: "reserve", Action: do, Compensate: do, Policy: r, Timeout: 5 * time.Second},
			{Name: "charge", Action: do, Compensate: do, Policy: r, Timeout: 5 * time.Second},
			{Name: "confirm", Kind: saga.Pivot, Action: do, Policy: r, Timeout: 5 * time.Second},
			{Name: "ship", Kind: saga.Retriable, Action: do, Policy: r, Timeout: 5 * time.Second},
		},
	}
}

// runOrchestrator is the child process: it starts every saga not started
// yet, takes over those of dead instances, and exits once every saga has
// ended, unless it is killed first.
func runOrchestrator() {
	ctx := context.Background()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "orchestrator child:", err)
		os.Exit(1)
	}
	pcfg, err := pgxpool.ParseConfig(os.Getenv(faultDSNVar))
	if err != nil {
		fail(err)
	}
	pcfg.MaxConns = 24
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		fail(err)
	}
	seed, _ := strconv.ParseUint(os.Getenv(faultSeedVar), 10, 64)
	store, err := pgsaga.New(pool, pgsaga.Config{})
	if err != nil {
		fail(err)
	}
	cfg := saga.Config{
		InstanceID:    os.Getenv(faultIDVar),
		LeaseDuration: 2 * time.Second, PollInterval: 200 * time.Millisecond,
		CompensationAttempts: 3,
		Backoff:              retry.Exponential{Initial: 10 * time.Millisecond, Jitter: retry.EqualJitter},
		MaxDelay:             100 * time.Millisecond,
		Logger:               slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	o, err := saga.New(faultDefinition(&service{pool: pool, seed: seed}), store, cfg)
	if err != nil {
		fail(err)
	}
	g := bulwark.Start(ctx, o) // o.Run: takes over the sagas of killed instances

	ids := make(chan string)
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				err := o.Execute(ctx, id, faultOrder{ID: id})
				switch {
				case err == nil, errors.Is(err, saga.ErrExists), errors.Is(err, saga.ErrCompensated),
					errors.Is(err, saga.ErrNeedsAttention), errors.Is(err, saga.ErrLeaseLost):
				default:
					fmt.Fprintf(os.Stderr, "orchestrator %s: saga %s: %v\n", cfg.InstanceID, id, err)
				}
			}
		}()
	}
	for i := range faultSagas {
		if os.Getenv(faultRevVar) == "1" {
			i = faultSagas - 1 - i
		}
		ids <- sagaID(i)
	}
	close(ids)
	wg.Wait()
	for {
		var unfinished int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM sagas WHERE status IN ('running', 'compensating')`).Scan(&unfinished)
		if err == nil && unfinished == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := g.Stop(ctx); err != nil {
		fail(err)
	}
	pool.Close()
}

type child struct {
	cmd  *exec.Cmd
	done chan error
}

func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// TestSIGKILLedOrchestratorsLeaveEverySagaFinished runs 1,000 four-step
// sagas (compensatable, compensatable, pivot, retriable) against services
// that fail at random, before or after doing the work, in orchestrator
// processes killed with SIGKILL at random moments and restarted, with a
// second orchestrator running beside the first for part of the time.
// Afterwards every saga is completed or compensated (or needs attention,
// where a compensation was made to fail for good), and no action or
// compensation took effect twice.
func TestSIGKILLedOrchestratorsLeaveEverySagaFinished(t *testing.T) {
	testenv.SkipUnderRace(t)
	ctx := context.Background()
	_, dsn := pgtest.Schema(t)
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer pool.Close()
	newStore(t, pool)
	_, err = pool.Exec(ctx, serviceSchema)
	require.NoError(t, err)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)

	start := func(name string, reverse bool) *child {
		rev := "0"
		if reverse {
			rev = "1"
		}
		cmd := testenv.Command(t, "orchestrator", faultDSNVar+"="+dsn, faultSeedVar+"="+strconv.FormatUint(seed, 10), faultIDVar+"="+name, faultRevVar+"="+rev)
		require.NoError(t, cmd.Start())
		c := &child{cmd: cmd, done: make(chan error, 1)}
		go func() { c.done <- cmd.Wait() }()
		return c
	}
	progress := func() (created, unfinished int) {
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status IN ('running', 'compensating')) FROM sagas`).Scan(&created, &unfinished))
		return created, unfinished
	}

	// Kill the orchestrator at random moments while work remains; a
	// second one runs beside it from the second to the fifth kill, and is
	// itself killed and restarted once.
	rng := rand.New(rand.NewPCG(seed, 0))
	kills, killedMidSaga := 0, 0
	a := start("a0", false)
	var b *child
	for kills < 8 {
		time.Sleep(150*time.Millisecond + time.Duration(rng.Int64N(int64(600*time.Millisecond))))
		created, unfinished := progress()
		if created == faultSagas && unfinished == 0 {
			break
		}
		a.kill()
		kills++
		if unfinished > 0 {
			killedMidSaga++
		}
		switch kills {
		case 2:
			b = start("b0", true)
		case 4:
			b.kill()
			kills++
			b = start("b1", true)
		case 6:
			b.kill()
			kills++
			b = nil
		}
		a = start(fmt.Sprintf("a%d", kills), false)
	}
	t.Logf("%d kills, %d with sagas in flight", kills, killedMidSaga)
	require.GreaterOrEqual(t, killedMidSaga, 3, "the kills came too late to test anything; the machine is too fast for this schedule")

	// The last instances run undisturbed until every saga has ended.
	for _, c := range []*child{a, b} {
		if c == nil {
			continue
		}
		select {
		case err := <-c.done:
			require.NoError(t, err, "the orchestrator child failed")
		case <-time.After(3 * time.Minute):
			c.kill()
			t.Fatal("the sagas did not all end within 3 minutes")
		}
	}
	verifyFaultRun(t, pool, seed)
}

func verifyFaultRun(t *testing.T, pool *pgxpool.Pool, seed uint64) {
	ctx := context.Background()
	statuses := map[string]saga.Status{}
	rows, err := pool.Query(ctx, `SELECT id, status FROM sagas`)
	require.NoError(t, err)
	for rows.Next() {
		var id, st string
		require.NoError(t, rows.Scan(&id, &st))
		statuses[id] = saga.Status(st)
	}
	require.NoError(t, rows.Err())
	require.Len(t, statuses, faultSagas, "every saga was started")

	type effect struct {
		saga, step   string
		compensation bool
	}
	effects := map[effect]int{}
	rows, err = pool.Query(ctx, `SELECT saga, step, compensation, count(*) FROM effects GROUP BY 1, 2, 3`)
	require.NoError(t, err)
	total := 0
	for rows.Next() {
		var e effect
		var n int
		require.NoError(t, rows.Scan(&e.saga, &e.step, &e.compensation, &n))
		effects[e] = n
		total += n
	}
	require.NoError(t, rows.Err())
	var repeats, refused int
	require.NoError(t, pool.QueryRow(ctx, `SELECT coalesce(sum(n), 0) FROM repeats`).Scan(&repeats))
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM refused`).Scan(&refused))

	for e, n := range effects {
		assert.Equal(t, 1, n, "%+v took effect %d times", e, n)
	}
	counts := map[saga.Status]int{}
	for i := range faultSagas {
		id := sagaID(i)
		st, plan := statuses[id], planFor(seed, id)
		counts[st]++
		did := func(step string) bool { return effects[effect{id, step, false}] > 0 }
		undid := func(step string) bool { return effects[effect{id, step, true}] > 0 }
		switch st {
		case saga.Completed:
			assert.False(t, plan.declineCharge || plan.rejectConfirm, "%s completed despite %+v", id, plan)
			for _, step := range []string{"reserve", "charge", "confirm", "ship"} {
				assert.True(t, did(step), "%s completed without %s taking effect", id, step)
				assert.False(t, undid(step), "%s completed, yet %s was compensated", id, step)
			}
		case saga.Compensated:
			assert.False(t, plan.stuckRelease, "%s compensated although releasing always fails", id)
			for _, step := range []string{"reserve", "charge"} {
				if did(step) {
					assert.True(t, undid(step), "%s compensated, but %s was not undone", id, step)
				}
			}
			assert.False(t, did("confirm") || did("ship"), "%s compensated after its pivot took effect", id)
		case saga.NeedsAttention:
			assert.True(t, plan.stuckRelease, "%s needs attention, but no compensation was made to fail", id)
			assert.False(t, undid("reserve"))
			assert.False(t, did("confirm") || did("ship"), "%s needs attention after its pivot took effect", id)
		default:
			t.Errorf("saga %s ended %s", id, st)
		}
	}
	t.Logf("%d sagas: %d completed, %d compensated, %d need attention; %d effects, none twice; %d repeated invocations deduplicated by their idempotency key; %d late actions refused",
		faultSagas, counts[saga.Completed], counts[saga.Compensated], counts[saga.NeedsAttention], total, repeats, refused)
}
