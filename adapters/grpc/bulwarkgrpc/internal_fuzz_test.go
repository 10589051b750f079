package bulwarkgrpc

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// FuzzDecodeOutcome feeds stored outcomes of any shape to the decoder
// (a record store's bytes are input like any other) and checks that the
// encoder's output reads back.
func FuzzDecodeOutcome(f *testing.F) {
	ok, _ := encodeOutcome(status.New(codes.OK, ""), wrapperspb.String("hi"))
	nf, _ := encodeOutcome(status.New(codes.NotFound, "gone"), nil)
	for _, s := range [][]byte{ok, nf, nil, {1}, {1, 0}, {1, 200}, {2, 0}, {1, 3, 8, 0, 0}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, body, err := decodeOutcome(b)
		if err != nil {
			return
		}
		if st.Code() == codes.OK {
			// the body is replayed as it was stored
			if !bytes.HasSuffix(b, body) || len(b)-len(body) > 11 {
				t.Fatalf("OK outcome %x: body %x", b, body)
			}
			return
		}
		again, err := encodeOutcome(st, nil)
		if err != nil || body != nil {
			t.Fatalf("status outcome %x: %v, body %x", b, err, body)
		}
		st2, _, err := decodeOutcome(again)
		if err != nil || st2.Code() != st.Code() || st2.Message() != st.Message() {
			t.Fatalf("%v re-encoded as %x reads %v, %v", st, again, st2, err)
		}
	})
}

// FuzzStatusErrorPushback checks how any pushback trailer value is read:
// a hint exactly when ParsePushback accepts it, "do not retry" otherwise.
func FuzzStatusErrorPushback(f *testing.F) {
	for _, s := range []string{"5", "-1", "", "x", "2147483648"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		st := status.New(codes.Unavailable, "busy")
		e := newStatusError("/s/m", st, st.Err(), metadata.MD{MetadataPushback: {v}})
		d, ok := ParsePushback(v)
		if ok != (e.hint != nil) || ok == e.noRetry || (ok && e.hint.RetryAfter() != d) {
			t.Fatalf("%q: hint %v, noRetry %v; ParsePushback %v, %v", v, e.hint, e.noRetry, d, ok)
		}
	})
}
