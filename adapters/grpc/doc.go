// Package grpc holds bulwark's gRPC adapter, bulwarkgrpc: client and
// server interceptors for bulwark's policies. It is its own module, so
// that only programs that use gRPC depend on google.golang.org/grpc.
package grpc
