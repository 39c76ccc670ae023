package handlers

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// clientIP is the address a request came from, for rate limits and the auth log: the TCP
// peer, unless the peer is a trusted proxy (TICKSTOCK_TRUSTED_PROXIES). Then it is the
// right-most address in X-Forwarded-For that is not itself a trusted proxy: each proxy
// appends the address it received the request from, so everything left of that is what
// the client claimed and is not believed. (Fiber's own ProxyHeader takes the left-most
// address, which any client can forge.)
func (h *Handlers) clientIP(c *fiber.Ctx) string {
	rs := stateOf(c)
	if rs.ip == "" {
		rs.ip = h.resolveClientIP(c).String()
	}
	return rs.ip
}

func (h *Handlers) resolveClientIP(c *fiber.Ctx) netip.Addr {
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	peer = peer.Unmap()
	if !h.trustedProxy(peer) {
		return peer
	}
	client := peer
	headers := c.Request().Header.PeekAll(fiber.HeaderXForwardedFor)
	for i := len(headers) - 1; i >= 0; i-- {
		hops := strings.Split(string(headers[i]), ",")
		for j := len(hops) - 1; j >= 0; j-- {
			addr, ok := parseHop(hops[j])
			if !ok {
				return client // a trusted proxy wrote nothing readable here: stop at the last proxy
			}
			if !h.trustedProxy(addr) {
				return addr
			}
			client = addr
		}
	}
	return client // every hop is a trusted proxy: the farthest one is all we know
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a port.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func (h *Handlers) trustedProxy(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range h.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
