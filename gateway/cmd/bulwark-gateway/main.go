// Command bulwark-gateway serves a gateway.Gateway from a configuration
// file (YAML or JSON; see package gateway for the document), reloading it
// whenever the file changes: an invalid version is refused and logged, and
// the routes in use stay.
//
//	bulwark-gateway -config gateway.yaml -listen :8080
//
// At the edge it fronts services; as a sidecar it runs beside one service,
// on loopback, as that service's egress proxy:
//
//	bulwark-gateway -config egress.yaml -listen 127.0.0.1:15001
//	HTTP_PROXY=http://127.0.0.1:15001 ./my-service
//
// The service's plain http:// calls then arrive in proxy form and are
// routed by their host (a route matching "orders.internal/"), with the
// route's retries, breaker, timeout and limits, and the W3C trace context
// passed on. SIGTERM or SIGINT stops accepting connections, lets requests
// in flight finish (up to -shutdown-timeout) and exits.
//
// An upstream may name a resolver in its discovery setting: "dns" is always
// there (gateway/dnsdiscovery with the nameservers of /etc/resolv.conf: a
// service "api.internal:8080" for A/AAAA records, "_http._tcp.api.internal"
// for SRV), and "etcd" with -etcd (adapters/etcd's etcddiscovery, the
// registry under -etcd-prefix). With -etcd, -config-etcd-key reads the
// document from an etcd key instead of a file, and applies every version
// written to it:
//
//	bulwark-gateway -etcd 10.0.0.5:2379,10.0.0.6:2379 -config-etcd-key /bulwark/gateway.yaml
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/bulwark-go/bulwark/adapters/etcd/etcdconfig"
	"github.com/bulwark-go/bulwark/adapters/etcd/etcddiscovery"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/configsource"
	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/gateway"
	"github.com/bulwark-go/bulwark/gateway/dnsdiscovery"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.opentelemetry.io/otel/propagation"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "bulwark-gateway:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	config            string
	etcd              []string
	etcdKey           string
	etcdPrefix        string
	listen            string
	trusted           string
	reloadInterval    time.Duration
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	idleTimeout       time.Duration
	shutdownTimeout   time.Duration
	maxHeaderBytes    int
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bulwark-gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.config, "config", "", "the configuration `file` (YAML or JSON), watched for changes")
	var etcd string
	fs.StringVar(&etcd, "etcd", "", "comma-separated etcd `endpoints`: registers the \"etcd\" resolver")
	fs.StringVar(&o.etcdPrefix, "etcd-prefix", etcddiscovery.DefaultPrefix, "the key `prefix` of the etcd service registry")
	fs.StringVar(&o.etcdKey, "config-etcd-key", "", "read the configuration from this etcd `key` (needs -etcd), watched for changes, instead of -config")
	fs.StringVar(&o.listen, "listen", ":8080", "the `address` to serve on; 127.0.0.1:PORT as a sidecar")
	fs.StringVar(&o.trusted, "trusted-proxies", "", "comma-separated `CIDRs` of proxies whose X-Forwarded-*/Forwarded headers are kept")
	fs.DurationVar(&o.reloadInterval, "reload-interval", time.Second, "how often the configuration file is checked for changes")
	fs.DurationVar(&o.readHeaderTimeout, "read-header-timeout", 10*time.Second, "the longest a client may take to send its request headers")
	fs.DurationVar(&o.readTimeout, "read-timeout", time.Minute, "the longest a client may take to send a whole request; 0 for no limit")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", 2*time.Minute, "how long an idle keep-alive connection stays open")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long requests in flight may take to finish on SIGTERM")
	fs.IntVar(&o.maxHeaderBytes, "max-header-bytes", 1<<20, "the largest request header the server reads")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for s := range strings.SplitSeq(etcd, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.etcd = append(o.etcd, s)
		}
	}
	switch {
	case o.config == "" && o.etcdKey == "":
		return o, errors.New("-config or -config-etcd-key is required")
	case o.config != "" && o.etcdKey != "":
		return o, errors.New("-config and -config-etcd-key are exclusive: the document comes from one place")
	case o.etcdKey != "" && len(o.etcd) == 0:
		return o, errors.New("-config-etcd-key needs -etcd endpoints")
	case etcd != "" && len(o.etcd) == 0:
		return o, fmt.Errorf("-etcd must list host:port endpoints, got %q", etcd)
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.readHeaderTimeout <= 0:
		return o, fmt.Errorf("-read-header-timeout must be > 0, got %v", o.readHeaderTimeout)
	case o.readTimeout < 0 || o.idleTimeout < 0 || o.shutdownTimeout < 0:
		return o, errors.New("-read-timeout, -idle-timeout and -shutdown-timeout must be >= 0")
	case o.maxHeaderBytes < 4096:
		return o, fmt.Errorf("-max-header-bytes must be at least 4096, got %d", o.maxHeaderBytes)
	}
	return o, nil
}

func trustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for s := range strings.SplitSeq(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("-trusted-proxies: %q is not a CIDR such as 10.0.0.0/8", s)
		}
		out = append(out, p)
	}
	return out, nil
}

// run serves until ctx ends, then shuts down gracefully. ready, when set,
// is told the address the server listens on.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(addr string)) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	trusted, err := trustedProxies(o.trusted)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	resolvers := map[string]discovery.Resolver{}
	if dns, err := dnsdiscovery.New(dnsdiscovery.Config{}); err != nil {
		logger.Warn("bulwark-gateway: no \"dns\" resolver", "error", err)
	} else {
		resolvers["dns"] = dns
	}
	var etcd *clientv3.Client
	if len(o.etcd) > 0 {
		if etcd, err = clientv3.New(clientv3.Config{Endpoints: o.etcd, DialTimeout: 5 * time.Second}); err != nil {
			return fmt.Errorf("-etcd: %w", err)
		}
		defer etcd.Close()
		r, err := etcddiscovery.New(etcd, etcddiscovery.Config{Prefix: o.etcdPrefix, Logger: logger})
		if err != nil {
			return fmt.Errorf("-etcd-prefix: %w", err)
		}
		resolvers["etcd"] = r
	}
	doc, src, err := load(ctx, o, etcd)
	if err != nil {
		return err
	}
	g, err := gateway.New(doc, gateway.Config{
		Resolvers:  resolvers,
		Source:     src,
		Proxies:    bulwarkhttp.Proxies{Trusted: trusted},
		Logger:     logger,
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: o.readHeaderTimeout,
		ReadTimeout:       o.readTimeout,
		IdleTimeout:       o.idleTimeout,
		MaxHeaderBytes:    o.maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	ran := make(chan error, 1)
	go func() { ran <- g.Run(runCtx) }()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	logger.Info("bulwark-gateway: serving", "addr", l.Addr().String(), "config", cmp.Or(o.config, "etcd:"+o.etcdKey))
	if ready != nil {
		ready(l.Addr().String())
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	logger.Info("bulwark-gateway: shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		serveErr = errors.Join(serveErr, fmt.Errorf("shutdown: %w", err))
	}
	if err := g.Close(shutdownCtx); err != nil {
		serveErr = errors.Join(serveErr, err)
	}
	if err := <-ran; err != nil {
		serveErr = errors.Join(serveErr, err)
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// load reads the first document, from the file or the etcd key, and
// returns the source that follows its later versions.
func load(ctx context.Context, o options, etcd *clientv3.Client) (*gateway.Document, configsource.Source, error) {
	if o.etcdKey == "" {
		data, err := os.ReadFile(o.config)
		if err != nil {
			return nil, nil, err
		}
		doc, err := gateway.Parse(data)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", o.config, err)
		}
		src, err := configsource.NewFile(o.config, configsource.FileConfig{Interval: o.reloadInterval})
		return doc, src, err
	}
	getCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := etcd.Get(getCtx, o.etcdKey)
	if err != nil {
		return nil, nil, fmt.Errorf("-config-etcd-key %s: %w", o.etcdKey, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil, fmt.Errorf("-config-etcd-key %s: the key does not exist", o.etcdKey)
	}
	doc, err := gateway.Parse(resp.Kvs[0].Value)
	if err != nil {
		return nil, nil, fmt.Errorf("etcd key %s: %w", o.etcdKey, err)
	}
	src, err := etcdconfig.New(etcd, o.etcdKey, etcdconfig.Config{})
	return doc, src, err
}
