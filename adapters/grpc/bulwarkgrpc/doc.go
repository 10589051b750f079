// Package bulwarkgrpc runs bulwark's policies around gRPC calls: client
// interceptors that put each call through a bulwark.Policy (a Chain of
// retry, breaker, bulkhead, hedge, timeout), and server interceptors that
// shed load, limit each client's rate, make unary handlers idempotent and
// report health. It is to gRPC what bulwarkhttp is to net/http.
//
// # Client
//
// UnaryClientInterceptor and StreamClientInterceptor take a policy and a
// ClientConfig; each run of the policy's operation is one attempt:
//
//	p := bulwark.Chain(retrier, breaker, hedger)
//	unary, err := bulwarkgrpc.UnaryClientInterceptor(p, bulwarkgrpc.ClientConfig{
//		IdempotentMethods: []string{"/inventory.Inventory/Get"},
//	})
//	...
//	conn, err := grpc.NewClient(target, grpc.WithChainUnaryInterceptor(unary), ...)
//
// What the policies see of an attempt:
//
//   - A status that says the server is failing or overloaded
//     (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, INTERNAL,
//     UNKNOWN, DATA_LOSS: FailureCode, ClientConfig.IsFailure) is reported
//     as a *StatusError, so a breaker counts it. Of those, only
//     UNAVAILABLE, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED (RetryableCode,
//     ClientConfig.IsRetryable) may be retried; the others are marked
//     retry.Permanent.
//   - Every other status (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS,
//     PERMISSION_DENIED, UNAUTHENTICATED, FAILED_PRECONDITION, ABORTED,
//     OUT_OF_RANGE, UNIMPLEMENTED, CANCELED from the server) is the
//     server's answer about the request: the policy sees a success (a
//     breaker does not count it, a retry does not repeat it) and the caller
//     gets the status error.
//   - An attempt whose context ended (the caller cancelled, a hedge lost,
//     a timeout fired) reports an error that wraps the context's error as
//     well, so a breaker ignores the caller's own cancellation.
//   - Server pushback: a grpc-retry-pushback-ms trailer with a wait, or a
//     google.rpc.RetryInfo detail (the trailer wins), makes the
//     *StatusError carry a RetryAfter() time.Duration, read by
//     bulwark.RetryAfter: a retry waits as the server asked (up to its
//     MaxDelay). A negative or malformed pushback means "do not retry":
//     the error is marked retry.Permanent.
//   - Deadlines: an attempt runs with the policy's context, which is the
//     caller's or one derived from it, so the deadline sent to the server
//     is the earlier of the caller's deadline and any per-attempt limit in
//     the chain (retry.Config.AttemptTimeout, a timeout.Timeout): a retry
//     never outlives its caller.
//
// Cost: when the policy is a retry.Retrier, a circuitbreaker.Breaker, a
// bulkhead.Bulkhead or a Chain of only those, the unary interceptor runs
// them itself rather than through bulwark.Policy (they run attempts one at
// a time and keep nothing of a call), so a call that succeeds allocates
// nothing of the interceptor's own and does not work out whether it is
// idempotent: the first attempt costs little more than calling the
// invoker. The trailer option that reads the server's pushback is reused
// from call to call; grpc copies the trailer into it, which is the one
// allocation a real call gains. With any other policy (a hedger, a
// timeout, a fallback), each call allocates its state once.
//
// For callers of gRPC stubs without these interceptors, IsFailure and
// IsRetryable classify errors the same way, for circuitbreaker.Config's
// IsFailure and retry.Config's RetryIf.
//
// What the caller gets: the reply of the successful attempt; the answer
// status of an attempt the policy saw as a success; or the policy's error.
// Every error reads as a status: status.Code gives the server's code when
// the error carries one, RESOURCE_EXHAUSTED for a rate limit, UNAVAILABLE
// for another rejection (an open breaker, a full bulkhead), and
// DEADLINE_EXCEEDED or CANCELED for the context's errors; errors.Is still
// matches the policy's errors (circuitbreaker.ErrOpen, timeout.ErrTimeout,
// retry.ErrMaxAttempts). The interceptor returns only once every attempt
// it started has returned: one that a detached timeout left running is
// waited for (grpc's invoker returns as soon as the attempt's context
// ends), so no attempt writes into reply after the caller has it.
//
// # Only idempotent calls are sent twice
//
// A call may be attempted more than once when its method is listed in
// ClientConfig.IdempotentMethods ("/pkg.Service/Method" or
// "/pkg.Service/*"), when ClientConfig.IsIdempotent says so, when its
// context was marked by hedge.Idempotent, when its outgoing metadata
// carries an idempotency key (MetadataIdempotencyKey, which the
// Idempotency server interceptor reads), or when its method's
// idempotency_level option in the proto file is NO_SIDE_EFFECTS or
// IDEMPOTENT (read once per method from protoregistry.GlobalFiles, where
// generated code registers its files, or ClientConfig.Descriptors).
//
// Any other call runs through the policy all the same (the breaker counts
// it, a bulkhead bounds it), but is sent at most once: its errors are
// marked retry.Permanent, so a retry gives up after the first attempt, and
// an attempt after the first (a hedger with AllIdempotent) fails with
// ErrNotReplayable without sending anything. Idempotent calls' contexts
// are marked with hedge.Idempotent, so a Hedger in the chain hedges them
// (a chain of only retries, breakers and bulkheads, which read no mark,
// gets the caller's context as it is).
// An attempt that starts while another is running (a hedge) gets a reply
// message of its own, and the winner's ends up in the caller's reply.
//
// # Streams
//
// An idempotent server-streaming call (one request, a stream of
// responses) is opened on the caller's first RecvMsg (or Header): each
// attempt opens a stream, sends the request and waits for the first
// response, and the policy decides on that; once a message has arrived,
// the stream is never opened again and later errors go to the caller as
// they are. Client-streaming and bidirectional calls, and streams that are
// not idempotent, are opened once through the policy when the caller opens
// them: the policy covers opening the stream (an open breaker refuses it),
// and a stream that could not be opened is opened again only when it is
// idempotent. Attempts of a stream never run side by side. A stream's
// context is the caller's; the policy's context ends an attempt only until
// the stream is established, so a bulkhead in the chain bounds streams
// being opened, not open streams.
//
// # Server
//
// Each server type has UnaryServerInterceptor and (except Idempotency)
// StreamServerInterceptor methods:
//
//   - Shedder admits calls through a policy (a bulkhead, an adaptive
//     bulkhead, a breaker) and answers the ones it rejects at once with
//     UNAVAILABLE (or RESOURCE_EXHAUSTED), a grpc-retry-pushback-ms trailer
//     and a RetryInfo detail: the rejection's own wait (an open breaker's
//     remaining open time) or ShedderConfig.Pushback.
//   - RateLimiter limits each client with a keyed limiter such as
//     ratelimit.Keyed (its memory store, or a Redis store from
//     adapters/redis: the limiter's store is its own business), keyed by
//     peer address (KeyByPeer, the default), by a metadata value
//     (KeyByMetadata) or by method (KeyByMethod), and answers calls over
//     the limit with RESOURCE_EXHAUSTED and the wait until the next permit
//     as pushback.
//   - Idempotency runs the first unary call with an idempotency key and
//     replays its outcome to every retry from an idempotency.Keeper's
//     store: the response message as the bytes stored (proto,
//     deterministic), sent as they are, or the status with its details; a
//     different request under the same key gets FAILED_PRECONDITION.
//   - Health sets a grpc health service's status from bulwark's events:
//     NOT_SERVING while a breaker it observes is open or half-open, and
//     for a while after each shed call.
//
// # Configuration and events
//
// Every constructor takes its required collaborator first and a Config
// whose zero value is the default (DefaultClientConfig,
// DefaultShedderConfig, DefaultRateLimiterConfig,
// DefaultIdempotencyConfig, DefaultHealthConfig spell them out); invalid
// settings are errors naming the field. With an Observer, a Shedder
// reports Shed, a RateLimiter Limited and LimiterFailed, a Health
// HealthChanged, each on the goroutine serving the call, with its context.
//
// # Proof
//
// The tests run over bufconn and loopback TCP. The chaos test makes a
// server fail 10% of calls (UNAVAILABLE), shed 5% (RESOURCE_EXHAUSTED, 2ms
// pushback) and stall 5% for 600ms; 600 calls from 6 goroutines through a
// retry (3 attempts of at most 100ms, a budget of 30%), a breaker and a
// hedger (two hedges, 25ms apart) must end with at most 2% errors and a
// p99 latency under 200ms, where the same calls without policies fail 12%
// of the time with a p99 of at least 600ms.
package bulwarkgrpc
