package loadtest

import (
	"context"
	"net"
	"testing"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		raw, addr, path string
		tls, err        bool
	}{
		{raw: "http://127.0.0.1:8080", addr: "127.0.0.1:8080"},
		{raw: "http://127.0.0.1:8080/", addr: "127.0.0.1:8080"},
		{raw: "https://example.com/app/", addr: "example.com:443", path: "/app", tls: true},
		{raw: "http://[::1]/", addr: "[::1]:80"},
		{raw: "localhost:8080", err: true},
		{raw: "ftp://127.0.0.1/", err: true},
		{raw: "", err: true},
	}
	for _, tt := range tests {
		got, err := parseTarget(tt.raw, 0)
		if (err != nil) != tt.err {
			t.Fatalf("parseTarget(%q) error %v, want error %v", tt.raw, err, tt.err)
		}
		if err != nil {
			continue
		}
		if got.addr != tt.addr || got.base.Path != tt.path || got.tls != tt.tls || got.path("/stream") != tt.path+"/stream" {
			t.Errorf("parseTarget(%q) = addr %q path %q tls %v", tt.raw, got.addr, got.base.Path, got.tls)
		}
	}
}

// TestDialerSpreadsSourceAddresses: connections to a loopback server come from 127.0.0.2
// and up in turn; other hosts are left to the kernel.
func TestDialerSpreadsSourceAddresses(t *testing.T) {
	for host, want := range map[string]int{"127.0.0.1": 3, "localhost": 3, "::1": 0, "192.0.2.1": 0} {
		if got := len(newDialer(host, 3).locals); got != want {
			t.Errorf("newDialer(%q, 3) uses %d source addresses, want %d", host, got, want)
		}
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	seen := make(chan string, 6)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			seen <- c.RemoteAddr().(*net.TCPAddr).IP.String()
			c.Close()
		}
	}()
	d := newDialer("127.0.0.1", 3)
	for range 6 {
		c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	count := map[string]int{}
	for range 6 {
		count[<-seen]++
	}
	if len(count) != 3 || count["127.0.0.2"] != 2 || count["127.0.0.3"] != 2 || count["127.0.0.4"] != 2 {
		t.Fatalf("source addresses seen by the server: %v", count)
	}
}
