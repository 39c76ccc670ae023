package loadtest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// target is the server under test, as parsed from --url.
type target struct {
	base   *url.URL // scheme://host[:port][/prefix], without a trailing slash
	addr   string   // host:port to dial
	host   string   // the Host header
	tls    bool
	dialer *dialer
}

func parseTarget(raw string, sourceIPs int) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--url %q is not an absolute URL like http://127.0.0.1:8080", raw)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("--url %q: the scheme must be http or https", raw)
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	t := &target{base: u, addr: net.JoinHostPort(u.Hostname(), port), host: u.Host, tls: u.Scheme == "https"}
	t.dialer = newDialer(u.Hostname(), sourceIPs)
	return t, nil
}

// url returns the absolute URL of path (which starts with "/").
func (t *target) url(path string) string { return t.base.String() + path }

// path returns the request-target for path under the base URL's prefix.
func (t *target) path(path string) string { return t.base.Path + path }

// dial opens a connection to the server (TLS when the URL says https).
func (t *target) dial(ctx context.Context) (net.Conn, error) {
	c, err := t.dialer.DialContext(ctx, "tcp", t.addr)
	if err != nil || !t.tls {
		return c, err
	}
	tc := tls.Client(c, &tls.Config{ServerName: t.base.Hostname(), NextProtos: []string{"http/1.1"}})
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

// dialer spreads connections to a loopback server over the source addresses 127.0.0.2 and
// up: one source address has about 28,000 ephemeral ports towards one server address, and
// ports in TIME_WAIT from an earlier run count against them.
type dialer struct {
	locals []*net.TCPAddr
	next   atomic.Uint64
}

// newDialer uses n source addresses when host is an IPv4 loopback address (or a name that
// resolves to one); n <= 0 or any other host leaves the choice to the kernel.
func newDialer(host string, n int) *dialer {
	d := &dialer{}
	if n <= 0 || !isLoopbackV4(host) {
		return d
	}
	if n > 250 {
		n = 250
	}
	for i := range n {
		d.locals = append(d.locals, &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))})
	}
	return d
}

func isLoopbackV4(host string) bool {
	if ip := net.ParseIP(host); ip != nil {
		return ip.To4() != nil && ip.IsLoopback()
	}
	addrs, err := net.LookupIP(host)
	if err != nil {
		return false
	}
	for _, ip := range addrs { // "localhost" may list ::1 first; tcp4 then dials 127.0.0.1
		if ip.To4() != nil && ip.IsLoopback() {
			return true
		}
	}
	return false
}

// DialContext dials from the next source address in turn.
func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: 30 * time.Second, KeepAlive: -1}
	if len(d.locals) > 0 {
		nd.LocalAddr = d.locals[d.next.Add(1)%uint64(len(d.locals))]
		if network == "tcp" {
			network = "tcp4"
		}
	}
	return nd.DialContext(ctx, network, addr)
}
