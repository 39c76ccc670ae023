package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// maxUniverseSymbols is the server's cap on one universe (settings.MaxUniverseSymbols).
const maxUniverseSymbols = 5000

// addSymbols widens the feed by n synthetic symbols (BX00000, BX00001, …) for a burst case:
// as the admin it creates universes BENCH1, BENCH2, … of up to 5,000 symbols each, which
// the running feed picks up without a restart. A universe left by an earlier run against
// the same database is fine.
func (c *client) addSymbols(ctx context.Context, admin *session, n int) error {
	for u := 0; u*maxUniverseSymbols < n; u++ {
		var sb strings.Builder
		for i := u * maxUniverseSymbols; i < min(n, (u+1)*maxUniverseSymbols); i++ {
			fmt.Fprintf(&sb, "BX%05d\n", i)
		}
		name := fmt.Sprintf("BENCH%d", u+1)
		status, body, err := c.do(ctx, admin, http.MethodPost, "/admin/universes",
			url.Values{"name": {name}, "description": {"tickstock bench: synthetic symbols"}, "symbols": {sb.String()}})
		switch {
		case err != nil:
			return fmt.Errorf("create universe %s: %w", name, err)
		case status == http.StatusOK:
		case status == http.StatusUnprocessableEntity && strings.Contains(strings.ToLower(string(body)), "already"):
		default:
			return fmt.Errorf("create universe %s: %w", name, &httpError{"POST", "/admin/universes", status, errorMessage(body)})
		}
	}
	return nil
}
