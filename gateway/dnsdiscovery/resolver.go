package dnsdiscovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/discovery"
	"github.com/miekg/dns"
)

// Config sets where a Resolver asks and how often. The zero Config is the
// default; New rejects a setting outside its range with an error naming the
// field.
type Config struct {
	// Servers are the DNS servers asked, "host:port", each in turn until
	// one answers. Empty means the nameservers of /etc/resolv.conf.
	Servers []string
	// Timeout bounds one query to one server: in (0, 1m]; 0 means 2
	// seconds.
	Timeout time.Duration
	// MinRefresh is the shortest time between two queries of a name,
	// whatever the TTL says, and the wait after a failed query: in (0, 1h];
	// 0 means 1 second.
	MinRefresh time.Duration
	// MaxRefresh is the longest time between two queries of a name,
	// however long the TTL: in [MinRefresh, 24h]; 0 means 5 minutes, or
	// MinRefresh when that is longer.
	MaxRefresh time.Duration
	// Clock times the refreshes; nil means clock.System.
	Clock clock.Clock
}

// The defaults zero fields take.
const (
	defaultTimeout    = 2 * time.Second
	defaultMinRefresh = time.Second
	defaultMaxRefresh = 5 * time.Minute
	resolvConf        = "/etc/resolv.conf"
)

// Resolver watches services in DNS. It is safe for concurrent use; each
// Watch runs its own refresh loop, which ends with the watch's context.
// The zero Resolver is not usable; make one with New.
type Resolver struct {
	cfg   Config
	clock clock.Clock
}

var _ discovery.Resolver = (*Resolver)(nil)

// New returns a Resolver, or an error naming the first invalid setting of
// cfg, or the error reading /etc/resolv.conf when cfg.Servers is empty.
func New(cfg Config) (*Resolver, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.MinRefresh == 0 {
		cfg.MinRefresh = defaultMinRefresh
	}
	if cfg.MaxRefresh == 0 {
		cfg.MaxRefresh = max(defaultMaxRefresh, cfg.MinRefresh)
	}
	switch {
	case cfg.Timeout < 0 || cfg.Timeout > time.Minute:
		return nil, fmt.Errorf("dnsdiscovery: Config.Timeout must be in (0, 1m] (0 means 2s), got %v", cfg.Timeout)
	case cfg.MinRefresh < 0 || cfg.MinRefresh > time.Hour:
		return nil, fmt.Errorf("dnsdiscovery: Config.MinRefresh must be in (0, 1h] (0 means 1s), got %v", cfg.MinRefresh)
	case cfg.MaxRefresh < cfg.MinRefresh || cfg.MaxRefresh > 24*time.Hour:
		return nil, fmt.Errorf("dnsdiscovery: Config.MaxRefresh must be in [MinRefresh (%v), 24h] (0 means 5m or MinRefresh), got %v", cfg.MinRefresh, cfg.MaxRefresh)
	}
	cfg.Servers = slices.Clone(cfg.Servers)
	for i, s := range cfg.Servers {
		if host, port, err := net.SplitHostPort(s); err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("dnsdiscovery: Config.Servers[%d] must be \"host:port\", got %q", i, s)
		}
	}
	if len(cfg.Servers) == 0 {
		cc, err := dns.ClientConfigFromFile(resolvConf)
		if err != nil {
			return nil, fmt.Errorf("dnsdiscovery: no Config.Servers and %s unreadable: %w", resolvConf, err)
		}
		for _, s := range cc.Servers {
			cfg.Servers = append(cfg.Servers, net.JoinHostPort(s, cc.Port))
		}
		if len(cfg.Servers) == 0 {
			return nil, fmt.Errorf("dnsdiscovery: no Config.Servers and no nameserver in %s", resolvConf)
		}
	}
	return &Resolver{cfg: cfg, clock: clock.OrSystem(cfg.Clock)}, nil
}

// query is what a service name asks for.
type query struct {
	name string // fully qualified
	srv  bool
	port string // A/AAAA only
	ip   string // an IP literal host: no query
}

func parseService(service string) (query, error) {
	service = strings.TrimSpace(service)
	if service == "" {
		return query{}, errors.New("dnsdiscovery: service name must not be empty")
	}
	if host, port, err := net.SplitHostPort(service); err == nil {
		if host == "" || port == "" {
			return query{}, fmt.Errorf("dnsdiscovery: service %q: want \"host:port\" or \"_service._proto.domain\"", service)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return query{}, fmt.Errorf("dnsdiscovery: service %q: port must be in [1, 65535]", service)
		}
		if net.ParseIP(host) != nil {
			return query{ip: host, port: port}, nil
		}
		if _, ok := dns.IsDomainName(host); !ok {
			return query{}, fmt.Errorf("dnsdiscovery: service %q: %q is not a domain name", service, host)
		}
		return query{name: dns.Fqdn(host), port: port}, nil
	}
	labels := dns.SplitDomainName(service)
	if len(labels) < 3 || !strings.HasPrefix(labels[0], "_") || !strings.HasPrefix(labels[1], "_") {
		return query{}, fmt.Errorf("dnsdiscovery: service %q: want \"host:port\" or \"_service._proto.domain\"", service)
	}
	if _, ok := dns.IsDomainName(service); !ok {
		return query{}, fmt.Errorf("dnsdiscovery: service %q is not a domain name", service)
	}
	return query{name: dns.Fqdn(service), srv: true}, nil
}

// Watch implements discovery.Resolver. It fails only for a service name of
// neither form.
func (r *Resolver) Watch(ctx context.Context, service string) (<-chan discovery.Update, error) {
	if r.clock == nil {
		panic("dnsdiscovery: Resolver used without New")
	}
	q, err := parseService(service)
	if err != nil {
		return nil, err
	}
	ch := make(chan discovery.Update, 1)
	go r.follow(ctx, q, ch)
	return ch, nil
}

// follow queries q until ctx ends, delivering each new set and each error.
func (r *Resolver) follow(ctx context.Context, q query, ch chan discovery.Update) {
	defer close(ch)
	var last []discovery.Endpoint
	first := true
	for {
		eps, ttl, err := r.lookup(ctx, q)
		if ctx.Err() != nil {
			return
		}
		wait := r.cfg.MinRefresh
		if err != nil {
			offer(ch, discovery.Update{Err: fmt.Errorf("dnsdiscovery: %s: %w", q.name, err)})
		} else {
			if first || !same(last, eps) {
				offer(ch, discovery.Update{Endpoints: eps})
				last, first = eps, false
			}
			wait = min(max(ttl, r.cfg.MinRefresh), r.cfg.MaxRefresh)
		}
		if q.ip != "" {
			<-ctx.Done()
			return
		}
		if clock.Sleep(ctx, r.clock, wait) != nil {
			return
		}
	}
}

// offer hands u to the watcher, replacing a set it has not read yet; an
// error never replaces an unread set, so the latest set is never lost.
func offer(ch chan discovery.Update, u discovery.Update) {
	if u.Err != nil {
		select {
		case ch <- u:
		default:
		}
		return
	}
	select {
	case <-ch:
	default:
	}
	ch <- u // follow is the only sender and the buffer is now empty
}

func same(a, b []discovery.Endpoint) bool {
	return slices.EqualFunc(a, b, func(x, y discovery.Endpoint) bool {
		return x.Addr == y.Addr && x.Meta["priority"] == y.Meta["priority"] && x.Meta["weight"] == y.Meta["weight"]
	})
}

// lookup returns q's endpoints and how long they may be kept.
func (r *Resolver) lookup(ctx context.Context, q query) ([]discovery.Endpoint, time.Duration, error) {
	if q.ip != "" {
		return []discovery.Endpoint{{Addr: net.JoinHostPort(q.ip, q.port)}}, 0, nil
	}
	types := []uint16{dns.TypeA, dns.TypeAAAA}
	if q.srv {
		types = []uint16{dns.TypeSRV}
	}
	var (
		eps []discovery.Endpoint
		ttl time.Duration = -1
	)
	for _, t := range types {
		answer, err := r.exchange(ctx, q.name, t)
		if err != nil {
			return nil, 0, err
		}
		for _, rr := range answer.Answer {
			var ep discovery.Endpoint
			switch v := rr.(type) {
			case *dns.A:
				ep.Addr = net.JoinHostPort(v.A.String(), q.port)
			case *dns.AAAA:
				ep.Addr = net.JoinHostPort(v.AAAA.String(), q.port)
			case *dns.SRV:
				ep.Addr = net.JoinHostPort(strings.TrimSuffix(v.Target, "."), strconv.Itoa(int(v.Port)))
				ep.Meta = map[string]string{"priority": strconv.Itoa(int(v.Priority)), "weight": strconv.Itoa(int(v.Weight))}
			default:
				continue // a CNAME on the way
			}
			eps = append(eps, ep)
			ttl = shorter(ttl, time.Duration(rr.Header().Ttl)*time.Second)
		}
		if len(answer.Answer) == 0 {
			for _, rr := range answer.Ns {
				if soa, ok := rr.(*dns.SOA); ok {
					ttl = shorter(ttl, time.Duration(min(soa.Minttl, soa.Hdr.Ttl))*time.Second)
				}
			}
		}
	}
	set, err := discovery.Normalize(eps)
	if err != nil {
		return nil, 0, fmt.Errorf("malformed answer: %w", err)
	}
	return set, max(ttl, 0), nil
}

func shorter(cur, d time.Duration) time.Duration {
	if cur < 0 || d < cur {
		return d
	}
	return cur
}

// exchange asks each server in turn for name's records of type t, over UDP
// and again over TCP when the answer is truncated.
func (r *Resolver) exchange(ctx context.Context, name string, t uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, t)
	m.RecursionDesired = true
	var errs []error
	for _, server := range r.cfg.Servers {
		answer, err := r.ask(ctx, m, server, "udp")
		if err == nil && answer.Truncated {
			answer, err = r.ask(ctx, m, server, "tcp")
		}
		if err == nil {
			switch answer.Rcode {
			case dns.RcodeSuccess, dns.RcodeNameError:
				return answer, nil
			}
			err = fmt.Errorf("%s answered %s", server, dns.RcodeToString[answer.Rcode])
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%s %s: %w", name, dns.TypeToString[t], errors.Join(errs...))
}

func (r *Resolver) ask(ctx context.Context, m *dns.Msg, server, network string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	c := &dns.Client{Net: network, Timeout: r.cfg.Timeout}
	conn, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// The client reads until its deadline and does not watch ctx: end the
	// read when ctx ends, so that a watch stops at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	answer, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	return answer, err
}
