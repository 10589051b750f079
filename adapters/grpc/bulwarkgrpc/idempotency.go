package bulwarkgrpc

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"

	"github.com/bulwark-go/bulwark/idempotency"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// DefaultMaxKeyLength is IdempotencyConfig.MaxKeyLength when it is 0.
const DefaultMaxKeyLength = 255

// IdempotencyConfig configures an Idempotency interceptor. Every zero
// field means the default its comment names, so IdempotencyConfig{} is the
// default configuration.
type IdempotencyConfig struct {
	// Methods lists the unary methods (full names, "/pkg.Service/Method")
	// that take an idempotency key; calls of other methods pass through
	// untouched. Empty means every unary method.
	Methods []string

	// Required makes a missing idempotency key an INVALID_ARGUMENT. Off
	// (the default): calls without a key pass through, and their handler
	// finds a nil Attempt in its context (idempotency.AttemptFrom), whose
	// methods are safe to call.
	Required bool

	// Scope returns the caller's identity or tenant (the authenticated
	// principal, say); records of different scopes never meet. Nil puts
	// every caller in one scope: use that only when one client owns the
	// service.
	Scope func(ctx context.Context) string

	// Fingerprint returns what identifies a request's content; the same
	// key with another fingerprint gets FAILED_PRECONDITION. req is the
	// request message marshaled with proto (deterministic). Nil means a
	// SHA-256 of the method and req.
	Fingerprint func(method string, req []byte) []byte

	// MaxKeyLength bounds the key's length in bytes; longer keys get
	// INVALID_ARGUMENT. 0 means DefaultMaxKeyLength (255); must not be
	// negative.
	MaxKeyLength int

	// Release reports the status codes that are not stored: for those the
	// key is released, so a retry runs the handler again. Nil means
	// ReleaseTransient. To store every outcome, use
	// func(codes.Code) bool { return false }.
	Release func(codes.Code) bool

	// Logger receives the failures of the record store that cannot reach
	// the client (an outcome that could not be stored, a stored one that
	// cannot be read). Nil means slog.Default().
	Logger *slog.Logger
}

// DefaultIdempotencyConfig returns the defaults that IdempotencyConfig{}
// stands for, spelled out: every unary method takes keys, keys are
// optional, one scope, the default fingerprint, 255-byte keys, transient
// failures released, logs to slog.Default().
func DefaultIdempotencyConfig() IdempotencyConfig {
	return IdempotencyConfig{MaxKeyLength: DefaultMaxKeyLength, Release: ReleaseTransient}
}

// ReleaseTransient is the default IdempotencyConfig.Release: it releases
// the key of an outcome that says "try again" rather than "this is the
// outcome": CANCELED, UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
// ABORTED, INTERNAL, UNAVAILABLE and DATA_LOSS. OK and every other code
// are stored.
func ReleaseTransient(c codes.Code) bool {
	switch c {
	case codes.Canceled, codes.Unknown, codes.DeadlineExceeded, codes.ResourceExhausted,
		codes.Aborted, codes.Internal, codes.Unavailable, codes.DataLoss:
		return true
	}
	return false
}

// Idempotency is a unary server interceptor that makes handlers
// idempotent under the MetadataIdempotencyKey metadata key: the first call
// with a key runs the handler, and every retry with the same key (and
// scope) gets the first outcome back: the response message as the bytes
// it was stored as (proto, deterministic), or the status with its
// details, and the response header "idempotent-replayed: true". A retry
// while the first call is in flight gets UNAVAILABLE with pushback (the
// time until the first call's lease ends), unless the Keeper's Config.Wait
// lets it wait for the outcome; a key reused with a different request gets
// FAILED_PRECONDITION; a missing key, when required, or a malformed one
// gets INVALID_ARGUMENT; a record store out of reach, UNAVAILABLE.
//
// Outcomes IdempotencyConfig.Release picks are passed to the client but
// not stored, and a handler that panics stores nothing: the key is
// released and the next retry runs the handler again. Header and trailer
// metadata the handler sets reach the first caller only; a replay carries
// the stored message or status alone.
//
// The handler's context carries the call's idempotency.Attempt
// (idempotency.AttemptFrom), for checkpoints and downstream keys.
type Idempotency struct {
	keeper  *idempotency.Keeper
	cfg     IdempotencyConfig // defaults filled in
	methods map[string]bool
}

// NewIdempotency returns the interceptor over keeper, or an error naming
// the first invalid setting of cfg.
func NewIdempotency(keeper *idempotency.Keeper, cfg IdempotencyConfig) (*Idempotency, error) {
	switch {
	case keeper == nil:
		return nil, errors.New("bulwarkgrpc: NewIdempotency needs a keeper, got nil")
	case cfg.MaxKeyLength < 0:
		return nil, fmt.Errorf("bulwarkgrpc: IdempotencyConfig.MaxKeyLength must be 0 (meaning %d) or > 0, got %d", DefaultMaxKeyLength, cfg.MaxKeyLength)
	}
	m := &Idempotency{keeper: keeper, cfg: cfg}
	if len(cfg.Methods) > 0 {
		m.methods = make(map[string]bool, len(cfg.Methods))
		for _, name := range slices.Clone(cfg.Methods) {
			m.methods[name] = true
		}
	}
	m.cfg.MaxKeyLength = cmp.Or(cfg.MaxKeyLength, DefaultMaxKeyLength)
	if m.cfg.Release == nil {
		m.cfg.Release = ReleaseTransient
	}
	return m, nil
}

func (m *Idempotency) logger() *slog.Logger {
	if m.cfg.Logger != nil {
		return m.cfg.Logger
	}
	return slog.Default()
}

// UnaryServerInterceptor returns the interceptor.
func (m *Idempotency) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	if m == nil || m.keeper == nil {
		panic("bulwarkgrpc: Idempotency used without NewIdempotency")
	}
	return m.intercept
}

func (m *Idempotency) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if m.methods != nil && !m.methods[info.FullMethod] {
		return handler(ctx, req)
	}
	values := metadata.ValueFromIncomingContext(ctx, MetadataIdempotencyKey)
	if len(values) == 0 {
		if m.cfg.Required {
			return nil, status.Error(codes.InvalidArgument, "bulwarkgrpc: this method requires an idempotency-key")
		}
		return handler(ctx, req)
	}
	key, bad := ParseIdempotencyKey(values, m.cfg.MaxKeyLength)
	if bad != "" {
		return nil, status.Error(codes.InvalidArgument, "bulwarkgrpc: "+bad)
	}
	msg, ok := req.(proto.Message)
	if !ok {
		return nil, status.Errorf(codes.Internal, "bulwarkgrpc: idempotency needs a proto request, got %T", req)
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "bulwarkgrpc: marshaling the request: %v", err)
	}
	r := idempotency.Request{Key: key}
	if m.cfg.Scope != nil {
		r.Scope = m.cfg.Scope(ctx)
	}
	if m.cfg.Fingerprint != nil {
		r.Fingerprint = m.cfg.Fingerprint(info.FullMethod, body)
	} else {
		r.Fingerprint = fingerprint(info.FullMethod, body)
	}

	att, stored, err := m.keeper.Start(ctx, r)
	var inProgress *idempotency.InProgressError
	switch {
	case errors.Is(err, idempotency.ErrMismatch):
		return nil, status.Error(codes.FailedPrecondition, "bulwarkgrpc: the idempotency-key was used with a different request")
	case errors.As(err, &inProgress):
		return nil, pushbackStatus(ctx, codes.Unavailable, "bulwarkgrpc: the first call with this idempotency-key is still in progress", inProgress.Wait)
	case err != nil && ctx.Err() != nil:
		return nil, status.FromContextError(ctx.Err()).Err()
	case err != nil:
		m.logger().ErrorContext(ctx, "bulwarkgrpc: claiming an idempotency key failed", "key", key, "error", err)
		return nil, pushbackStatus(ctx, codes.Unavailable, "bulwarkgrpc: idempotency records are unavailable; retry later", DefaultPushback)
	case att == nil:
		return m.replay(ctx, key, stored)
	}

	done := context.WithoutCancel(ctx)
	finished := false
	defer func() {
		if !finished { // the handler panicked: let a retry run it again
			_ = att.Release(done)
		}
	}()
	resp, herr := handler(idempotency.WithAttempt(ctx, att), req)
	finished = true
	st := status.Convert(herr)
	var out []byte
	if !m.cfg.Release(st.Code()) {
		out, err = encodeOutcome(st, resp)
	}
	switch {
	case err != nil:
		m.logger().ErrorContext(ctx, "bulwarkgrpc: encoding a response failed", "key", key, "error", err)
		err = att.Release(done)
	case out == nil:
		err = att.Release(done)
	default:
		err = att.Complete(done, out)
	}
	if err != nil {
		m.logger().ErrorContext(ctx, "bulwarkgrpc: recording an outcome failed", "key", key, "error", err)
	}
	return resp, herr
}

func (m *Idempotency) replay(ctx context.Context, key string, stored []byte) (any, error) {
	st, body, err := decodeOutcome(stored)
	if err != nil {
		m.logger().ErrorContext(ctx, "bulwarkgrpc: a stored outcome is unreadable", "key", key, "error", err)
		return nil, status.Error(codes.Internal, "bulwarkgrpc: the outcome stored for this idempotency-key cannot be replayed")
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs(MetadataIdempotentReplayed, "true"))
	if st.Code() != codes.OK {
		return nil, st.Err()
	}
	return &storedMessage{b: body}, nil
}

// ParseIdempotencyKey returns the key of the idempotency-key metadata
// values: exactly one value, not empty, at most maxLen bytes, of visible
// ASCII. When the values are malformed it returns, instead, what is wrong
// with them.
func ParseIdempotencyKey(values []string, maxLen int) (key, bad string) {
	if len(values) != 1 {
		return "", "send exactly one idempotency-key value"
	}
	v := values[0]
	if v == "" {
		return "", "the idempotency-key is empty"
	}
	if len(v) > maxLen {
		return "", "the idempotency-key is longer than " + strconv.Itoa(maxLen) + " bytes"
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return "", "the idempotency-key may only hold visible ASCII characters"
		}
	}
	return v, ""
}

// fingerprint is the default request fingerprint: SHA-256 over the
// method, length-prefixed, and the request's bytes.
func fingerprint(method string, body []byte) []byte {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(method)))])
	h.Write([]byte(method))
	h.Write(body)
	return h.Sum(nil)
}

// outcomeVersion is the first byte of a stored outcome.
const outcomeVersion = 1

// encodeOutcome returns the stored form of a call's outcome: a version
// byte, the status (google.rpc.Status, empty for OK) with its length, and
// the response message's bytes (deterministic proto).
func encodeOutcome(st *status.Status, resp any) ([]byte, error) {
	var statusBytes, body []byte
	var err error
	if st.Code() != codes.OK {
		if statusBytes, err = proto.Marshal(st.Proto()); err != nil {
			return nil, err
		}
	} else {
		msg, ok := resp.(proto.Message)
		if !ok {
			return nil, fmt.Errorf("bulwarkgrpc: the response is a %T, not a proto message", resp)
		}
		if body, err = (proto.MarshalOptions{Deterministic: true}).Marshal(msg); err != nil {
			return nil, err
		}
	}
	out := make([]byte, 0, 1+binary.MaxVarintLen64+len(statusBytes)+len(body))
	out = append(out, outcomeVersion)
	out = binary.AppendUvarint(out, uint64(len(statusBytes)))
	out = append(append(out, statusBytes...), body...)
	return out, nil
}

// decodeOutcome reads what encodeOutcome wrote.
func decodeOutcome(b []byte) (*status.Status, []byte, error) {
	if len(b) == 0 || b[0] != outcomeVersion {
		return nil, nil, errors.New("bulwarkgrpc: stored outcome of an unknown version")
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > uint64(len(b)-1-k) {
		return nil, nil, errors.New("bulwarkgrpc: stored outcome is truncated")
	}
	rest := b[1+k:]
	if n == 0 {
		return status.New(codes.OK, ""), rest, nil
	}
	var p spb.Status
	if err := proto.Unmarshal(rest[:n], &p); err != nil {
		return nil, nil, fmt.Errorf("bulwarkgrpc: stored status: %w", err)
	}
	if codes.Code(p.GetCode()) == codes.OK {
		return nil, nil, errors.New("bulwarkgrpc: stored status is OK with a status record")
	}
	return status.FromProto(&p), nil, nil
}

// storedMessage is a replayed response: the stored bytes, which the proto
// codec sends as they are (through the Marshal method of the proto
// package's legacy message support).
type storedMessage struct{ b []byte }

func (m *storedMessage) Reset()                   { m.b = nil }
func (m *storedMessage) String() string           { return hex.EncodeToString(m.b) }
func (*storedMessage) ProtoMessage()              {}
func (m *storedMessage) Marshal() ([]byte, error) { return m.b, nil }
func (m *storedMessage) Unmarshal(b []byte) error { m.b = append(m.b[:0], b...); return nil }
