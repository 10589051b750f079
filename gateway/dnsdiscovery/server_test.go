package dnsdiscovery_test

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// zone is an authoritative DNS server on loopback whose records a test
// changes while resolvers watch it.
type zone struct {
	addr     string
	mu       sync.Mutex
	records  map[string][]dns.RR // by lower-case fully qualified name
	servfail atomic.Bool
	queries  atomic.Int64
}

func newZone(t testing.TB) *zone {
	t.Helper()
	z := &zone{records: map[string][]dns.RR{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z.addr = pc.LocalAddr().String()
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(z.serve), NotifyStartedFunc: func() { close(started) }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ActivateAndServe()
	}()
	<-started
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
	return z
}

func (z *zone) serve(w dns.ResponseWriter, r *dns.Msg) {
	z.queries.Add(1)
	m := new(dns.Msg)
	if z.servfail.Load() {
		m.SetRcode(r, dns.RcodeServerFailure)
		_ = w.WriteMsg(m)
		return
	}
	m.SetReply(r)
	m.Authoritative = true
	q := r.Question[0]
	z.mu.Lock()
	rrs, ok := z.records[strings.ToLower(q.Name)]
	for _, rr := range rrs {
		if rr.Header().Rrtype == q.Qtype {
			m.Answer = append(m.Answer, dns.Copy(rr))
		}
	}
	z.mu.Unlock()
	if !ok {
		m.Rcode = dns.RcodeNameError
	}
	_ = w.WriteMsg(m)
}

// set replaces name's records with rrs, given in zone-file syntax.
func (z *zone) set(t testing.TB, name string, rrs ...string) {
	t.Helper()
	var parsed []dns.RR
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, rr)
	}
	z.mu.Lock()
	z.records[strings.ToLower(dns.Fqdn(name))] = parsed
	z.mu.Unlock()
}
