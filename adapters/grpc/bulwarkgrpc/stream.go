package bulwarkgrpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/retry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
)

// errLost is the error of a stream attempt that found the call already
// established by another attempt.
var errLost = errors.New("bulwarkgrpc: another attempt established the stream")

// StreamClientInterceptor returns an interceptor that runs the opening of
// every streaming call through policy, or an error when policy is nil or a
// setting of cfg is invalid. See the package doc for which part of a
// stream the policy covers and when a stream is opened again.
func StreamClientInterceptor(policy bulwark.Policy, cfg ClientConfig) (grpc.StreamClientInterceptor, error) {
	c, err := newClient("StreamClientInterceptor", policy, cfg)
	if err != nil {
		return nil, err
	}
	return c.stream, nil
}

func (c *client) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s := &clientStream{c: c, ctx: ctx, desc: desc, cc: cc, method: method, streamer: streamer, opts: opts}
	s.replayable = c.idempotent(ctx, method)
	if s.replayable && !desc.ClientStreams && desc.ServerStreams {
		return s, nil // opened on the first RecvMsg or Header, with retries until a message arrives
	}
	if err := s.establish(nil, false); err != nil {
		return nil, err
	}
	return s, nil
}

// clientStream is one streaming call. Until it is established it holds
// what the caller sent (a server-streaming call's one request); then it
// passes everything to the established stream.
type clientStream struct {
	c          *client
	ctx        context.Context // the caller's
	desc       *grpc.StreamDesc
	cc         *grpc.ClientConn
	method     string
	streamer   grpc.Streamer
	opts       []grpc.CallOption
	replayable bool

	mu       sync.Mutex // held by an attempt, so attempts never overlap
	attempts int
	req      any  // the request sent before the stream was opened
	sent     bool // req was sent
	closed   bool // CloseSend was called before the stream was opened
	live     grpc.ClientStream
	cancel   context.CancelCauseFunc // ends live's context
	failed   error                   // the policy's error, when opening failed
	firstErr error                   // the first RecvMsg's error on the live stream (io.EOF or a status)
}

// establish opens the stream through the policy. With recv it also reads
// the first message into m (m nil: waits for the header), retrying until
// one arrives.
func (s *clientStream) establish(m any, recv bool) error {
	err := s.c.policy.Do(s.ctx, func(ctx context.Context) error { return s.attempt(ctx, m, recv) })
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live == nil {
		if err == nil {
			err = &policyError{code: codes.Unknown, err: ErrNoResponse}
		}
		s.failed = callerError(err)
		return s.failed
	}
	if err != nil && s.firstErr == nil {
		// the policy failed after a stream was opened (it swallowed no
		// error of ours): end the stream and report the policy's error
		s.cancel(err)
		s.failed = callerError(err)
		return s.failed
	}
	return nil
}

func (s *clientStream) attempt(ctx context.Context, m any, recv bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live != nil {
		return errLost
	}
	s.attempts++
	if s.attempts > 1 && !s.replayable {
		return retry.Permanent(fmt.Errorf("%w: %s", ErrNotReplayable, s.method))
	}
	// The stream lives on after the policy returns, so its context is the
	// caller's; the policy's context ends it only until it is established.
	sctx, cancel := context.WithCancelCause(s.ctx)
	stop := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	fail := func(err error, trailer metadata.MD) error {
		stop()
		cancel(err)
		perr, answer := s.c.classify(ctx, s.method, err, trailer, s.replayable)
		if answer != nil {
			// the server answered (NOT_FOUND…): that is the stream's outcome
			s.live, s.cancel, s.firstErr = failedStream{ctx: sctx, err: answer, trailer: trailer}, cancel, answer
		}
		return perr
	}
	cs, err := s.streamer(sctx, s.desc, s.cc, s.method, s.opts...)
	if err != nil {
		return fail(err, nil)
	}
	if s.sent {
		err = cs.SendMsg(s.req)
	}
	if err == nil && s.closed {
		err = cs.CloseSend()
	}
	if err == nil && recv {
		if m != nil {
			err = cs.RecvMsg(m)
		} else {
			_, err = cs.Header()
		}
	}
	if err == io.EOF && recv && m != nil {
		// the stream ended with OK before any message
		stop()
		s.live, s.cancel, s.firstErr = cs, cancel, io.EOF
		return nil
	}
	if err != nil {
		return fail(err, cs.Trailer())
	}
	stop()
	s.live, s.cancel = cs, cancel
	return nil
}

// established returns the live stream, opening it first (and reading the
// first message into m) when it is not open yet. first reports that m
// already holds the first message, or that firstErr is the outcome.
func (s *clientStream) established(m any, recv bool) (cs grpc.ClientStream, first bool, err error) {
	s.mu.Lock()
	cs, err = s.live, s.failed
	s.mu.Unlock()
	if cs != nil || err != nil {
		return cs, false, err
	}
	if err := s.establish(m, recv); err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live, recv && m != nil, nil
}

func (s *clientStream) Header() (metadata.MD, error) {
	cs, _, err := s.established(nil, true)
	if err != nil {
		return nil, err
	}
	return cs.Header()
}

func (s *clientStream) Trailer() metadata.MD {
	s.mu.Lock()
	cs := s.live
	s.mu.Unlock()
	if cs == nil {
		return nil
	}
	return cs.Trailer()
}

func (s *clientStream) CloseSend() error {
	s.mu.Lock()
	cs, failed := s.live, s.failed
	if cs == nil && failed == nil {
		s.closed = true
	}
	s.mu.Unlock()
	if cs != nil {
		return cs.CloseSend()
	}
	return nil
}

func (s *clientStream) Context() context.Context {
	s.mu.Lock()
	cs := s.live
	s.mu.Unlock()
	if cs == nil {
		return s.ctx
	}
	return cs.Context()
}

func (s *clientStream) SendMsg(m any) error {
	s.mu.Lock()
	cs, failed := s.live, s.failed
	if cs == nil && failed == nil {
		if s.sent {
			s.mu.Unlock()
			return fmt.Errorf("bulwarkgrpc: %s: a server-streaming call sends one message", s.method)
		}
		s.req, s.sent = m, true
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	if failed != nil {
		return failed
	}
	return cs.SendMsg(m)
}

func (s *clientStream) RecvMsg(m any) error {
	cs, first, err := s.established(m, true)
	if err != nil {
		return err
	}
	if first {
		s.mu.Lock()
		ferr := s.firstErr
		s.mu.Unlock()
		if ferr != nil {
			s.cancel(ferr)
		}
		return ferr
	}
	s.mu.Lock()
	if ferr := s.firstErr; ferr != nil {
		s.mu.Unlock()
		return ferr
	}
	s.mu.Unlock()
	err = cs.RecvMsg(m)
	if err != nil {
		s.cancel(err) // the stream is over: release its context
	}
	return err
}

// failedStream stands for a stream whose server answered with a status
// the policy does not count as a failure before sending any message.
type failedStream struct {
	ctx     context.Context
	err     error
	trailer metadata.MD
}

func (f failedStream) Header() (metadata.MD, error) { return nil, f.err }
func (f failedStream) Trailer() metadata.MD         { return f.trailer }
func (f failedStream) CloseSend() error             { return nil }
func (f failedStream) Context() context.Context     { return f.ctx }
func (f failedStream) SendMsg(any) error            { return f.err }
func (f failedStream) RecvMsg(any) error            { return f.err }
