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
	clients map[net.Conn]struct{}
	wmu     sync.Mutex // serialises writes to clients, so Inject never splits a frame
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
	p := &Proxy{URL: u.String(), t: t, target: target, l: l, conns: make(map[net.Conn]struct{}), clients: make(map[net.Conn]struct{}), stalled: running}
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
		p.clients[c] = struct{}{}
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
		delete(p.clients, dst)
		delete(p.clients, src)
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
			if fromBroker {
				p.wmu.Lock()
			}
			_, werr := dst.Write(buf[:n])
			if fromBroker {
				p.wmu.Unlock()
			}
			if werr != nil {
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

// Inject sends a connection-level method frame (class 10) to every client
// as if the broker had sent it: method 60 (connection.blocked, with reason)
// or 61 (connection.unblocked). Call it while the connections are idle, so
// it cannot land inside a frame the broker is sending.
func (p *Proxy) Inject(method uint16, reason string) {
	payload := []byte{0, 10, byte(method >> 8), byte(method)}
	if method == 60 {
		payload = append(payload, byte(len(reason)))
		payload = append(payload, reason...)
	}
	frame := []byte{1, 0, 0, byte(len(payload) >> 24), byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload))}
	frame = append(append(frame, payload...), 0xCE)
	p.mu.Lock()
	clients := make([]net.Conn, 0, len(p.clients))
	for c := range p.clients {
		clients = append(clients, c)
	}
	p.mu.Unlock()
	p.wmu.Lock()
	defer p.wmu.Unlock()
	for _, c := range clients {
		_, _ = c.Write(frame)
	}
}
