package bulwarkgrpc_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/grpc/bulwarkgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/emptypb"
)

// lookupFiles registers a service whose methods declare their
// idempotency_level: Get NO_SIDE_EFFECTS, Put IDEMPOTENT, Post none.
func lookupFiles(t *testing.T) *protoregistry.Files {
	t.Helper()
	level := func(l descriptorpb.MethodOptions_IdempotencyLevel) *descriptorpb.MethodOptions {
		return &descriptorpb.MethodOptions{IdempotencyLevel: l.Enum()}
	}
	method := func(name string, opts *descriptorpb.MethodOptions) *descriptorpb.MethodDescriptorProto {
		return &descriptorpb.MethodDescriptorProto{Name: proto.String(name), InputType: proto.String(".google.protobuf.Empty"),
			OutputType: proto.String(".google.protobuf.Empty"), Options: opts}
	}
	fd := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("bulwarktest/lookup.proto"),
		Package:    proto.String("bulwarktest"),
		Dependency: []string{"google/protobuf/empty.proto"},
		Syntax:     proto.String("proto3"),
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("Lookup"),
			Method: []*descriptorpb.MethodDescriptorProto{
				method("Get", level(descriptorpb.MethodOptions_NO_SIDE_EFFECTS)),
				method("Put", level(descriptorpb.MethodOptions_IDEMPOTENT)),
				method("Post", nil),
			},
		}},
	}
	files := new(protoregistry.Files)
	if err := files.RegisterFile(emptypb.File_google_protobuf_empty_proto); err != nil {
		t.Fatal(err)
	}
	f, err := protodesc.NewFile(fd, files)
	if err != nil {
		t.Fatal(err)
	}
	if err := files.RegisterFile(f); err != nil {
		t.Fatal(err)
	}
	return files
}

func TestIdempotencyLevelFromDescriptors(t *testing.T) {
	files := lookupFiles(t)
	for _, tc := range []struct {
		method    string
		resolver  bulwarkgrpc.Resolver
		wantCalls int
	}{
		{"/bulwarktest.Lookup/Get", files, 2},
		{"/bulwarktest.Lookup/Put", files, 2},
		{"/bulwarktest.Lookup/Post", files, 1},
		{"/bulwarktest.Lookup/Missing", files, 1},
		{"/bulwarktest.Lookup/Get", bulwarkgrpc.NoDescriptors, 1},
		{"/bulwarktest.Lookup/Get", nil, 1}, // not in protoregistry.GlobalFiles
	} {
		ui, err := bulwarkgrpc.UnaryClientInterceptor(fastRetry(t, nil, 3), bulwarkgrpc.ClientConfig{Descriptors: tc.resolver})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second call reads the cached level
			calls := 0
			invoker := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
				calls++
				if calls == 1 {
					return status.Error(codes.Unavailable, "once")
				}
				return nil
			}
			_ = ui(context.Background(), tc.method, &emptypb.Empty{}, &emptypb.Empty{}, nil, invoker)
			if calls != tc.wantCalls {
				t.Fatalf("%s with %T: %d attempts, want %d", tc.method, tc.resolver, calls, tc.wantCalls)
			}
		}
	}
}
