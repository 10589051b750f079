package dnsdiscovery_test

import (
	"context"
	"fmt"
	"net"

	"github.com/bulwark-go/bulwark/gateway/dnsdiscovery"
	"github.com/miekg/dns"
)

func Example() {
	// A DNS server on loopback that knows one name (a real deployment
	// leaves Servers empty and asks the nameservers of /etc/resolv.conf).
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) }, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if r.Question[0].Qtype == dns.TypeA {
			for _, ip := range []string{"10.0.0.2", "10.0.0.1"} {
				rr, _ := dns.NewRR("orders.example. 30 IN A " + ip)
				m.Answer = append(m.Answer, rr)
			}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	defer srv.Shutdown()

	r, err := dnsdiscovery.New(dnsdiscovery.Config{Servers: []string{pc.LocalAddr().String()}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	updates, _ := r.Watch(ctx, "orders.example:8080")
	u := <-updates
	fmt.Println(u.Endpoints, u.Err)
	// Output:
	// [{10.0.0.1:8080 map[]} {10.0.0.2:8080 map[]}] <nil>
}
