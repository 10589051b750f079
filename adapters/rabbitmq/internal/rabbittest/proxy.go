package rabbittest

import (
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to the broker, and can cut them all, stop
// accepting new ones, or stall the bytes from the broker: a broker that
// restarts, goes away, or hangs, as its clients see it.
type Proxy struct {
	// URL is the broker's URL with the proxy's address.
	URL string

	t      testing.TB
	target string
	l      net.Listener

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	refuse  bool
	stalled chan struct{} // closed while not stalled
}

// NewProxy starts a proxy on a free loopback port to the broker at
// brokerURL; it stops when the test ends.
func NewProxy(t testing.TB, brokerURL string) *Proxy {
	t.Helper()
	u, err := url.Parse(brokerURL)
	if err != nil {
		t.Fatalf("rabbittest: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("rabbittest: %v", err)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5672")
	}
	u.Host = l.Addr().String()
	running := make(chan struct{})
	close(running)
	p := &Proxy{URL: u.String(), t: t, target: target, l: l, conns: make(map[net.Conn]struct{}), stalled: running}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); p.accept(&wg) }()
	t.Cleanup(func() {
		l.Close()
		p.Stall(false)
		p.Cut()
		wg.Wait()
	})
	return p
}

func (p *Proxy) accept(wg *sync.WaitGroup) {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[b] = struct{}{}, struct{}{}
		p.mu.Unlock()
		wg.Add(2)
		go func() { defer wg.Done(); p.pipe(b, c, false) }()
		go func() { defer wg.Done(); p.pipe(c, b, true) }()
	}
}

// pipe copies from src to dst until either closes; fromBroker copies wait
// while the proxy is stalled.
func (p *Proxy) pipe(dst, src net.Conn, fromBroker bool) {
	defer func() {
		dst.Close()
		src.Close()
		p.mu.Lock()
		delete(p.conns, dst)
		delete(p.conns, src)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && fromBroker {
			p.mu.Lock()
			wait := p.stalled
			p.mu.Unlock()
			<-wait
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Cut closes every connection through the proxy.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// Refuse makes the proxy close new connections at once (refuse=true), or
// forward them again.
func (p *Proxy) Refuse(refuse bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = refuse
}

// Stall holds every byte from the broker (stall=true) until Stall(false).
func (p *Proxy) Stall(stall bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.stalled:
		if stall {
			p.stalled = make(chan struct{})
		}
	default:
		if !stall {
			close(p.stalled)
		}
	}
}

// Conns returns the number of client connections open through the proxy.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns) / 2
}
