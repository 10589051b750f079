package gateway

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/luraproject/lura/v2/config"
	"github.com/luraproject/lura/v2/encoding"
	"github.com/luraproject/lura/v2/logging"
	"github.com/luraproject/lura/v2/proxy"
	luramux "github.com/luraproject/lura/v2/router/mux"
)

// startLura runs lura's net/http router with one endpoint whose backend is
// the upstream, passed through without decoding (no-op encoding), and
// serves its handler on loopback.
func startLura(b *testing.B, upstreamURL string) target {
	logger, err := logging.NewLogger("CRITICAL", io.Discard, "")
	if err != nil {
		b.Fatal(err)
	}
	cfg := config.ServiceConfig{
		Version: config.ConfigVersion,
		Timeout: 10 * time.Second,
		Endpoints: []*config.EndpointConfig{{
			Endpoint:       "/orders/42",
			Method:         http.MethodGet,
			OutputEncoding: encoding.NOOP,
			Backend: []*config.Backend{{
				URLPattern: "/orders/42",
				Host:       []string{upstreamURL},
				Encoding:   encoding.NOOP,
			}},
		}},
	}
	if err := cfg.Init(); err != nil {
		b.Fatal(err)
	}
	handler := make(chan http.Handler, 1)
	ctx, cancel := context.WithCancel(context.Background())
	rcfg := luramux.Config{
		Engine:         luramux.DefaultEngine(),
		HandlerFactory: luramux.EndpointHandler,
		ProxyFactory:   proxy.DefaultFactory(logger),
		Logger:         logger,
		RunServer: func(ctx context.Context, _ config.ServiceConfig, h http.Handler) error {
			handler <- h
			<-ctx.Done()
			return nil
		},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		luramux.NewFactory(rcfg).NewWithContext(ctx).Run(cfg)
	}()
	b.Cleanup(func() {
		cancel()
		<-done
	})
	return serve(b, <-handler)
}
