package credentials

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Kind is what a credential opens.
type Kind uint8

// The kinds of credential. Their tokens differ in prefix, so one kind never passes for the
// other, and a leaked token is easy to recognise (and to scan for) by its prefix.
const (
	Embed Kind = iota + 1 // an embed link: GET /embed/{token}, read-only HTML
	API                   // an API token: Authorization: Bearer, read-only JSON
)

// String names the kind in logs.
func (k Kind) String() string {
	switch k {
	case Embed:
		return "embed"
	case API:
		return "api_token"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

func (k Kind) prefix() string {
	if k == Embed {
		return "tse_"
	}
	return "tsk_"
}

// Token format: a 4-character prefix and 32 bytes (256 bits) from crypto/rand,
// base64url without padding.
const (
	secretBytes = 32
	prefixLen   = 4
	// TokenLen is the length of every token.
	TokenLen = prefixLen + 43
)

// handleBytes is the randomness of a handle, the credential's public id.
const handleBytes = 16

// ErrMalformed says an Authorization: Bearer header does not hold a well-formed API token.
// It never quotes the header.
var ErrMalformed = errors.New("credentials: malformed bearer token")

// newToken returns a fresh token of kind k.
func newToken(k Kind) string { return k.prefix() + random(secretBytes) }

// newHandle returns a fresh public id for a credential.
func newHandle() string { return random(handleBytes) }

func random(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Errorf("crypto/rand failed: %w", err)) // no randomness: nothing is safe
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// hash is what is stored and looked up: the SHA-256 of the whole token. A token has 256
// bits of entropy, so a fast hash is enough; no salt or stretching is needed.
func hash(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }

// WellFormed reports whether token could be a token of kind k, so junk costs no lookup.
func WellFormed(k Kind, token string) bool {
	if len(token) != TokenLen || !strings.HasPrefix(token, k.prefix()) {
		return false
	}
	return base64url(token[prefixLen:])
}

// wellFormedHandle reports whether h could be a handle this package made.
func wellFormedHandle(h string) bool {
	return len(h) == base64.RawURLEncoding.EncodedLen(handleBytes) && base64url(h)
}

func base64url(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ParseBearer reads an Authorization header. ok reports whether the header uses the Bearer
// scheme at all: an absent header, or another scheme (say, a proxy's Basic auth), is not
// ours and leaves the request to the session. err is ErrMalformed when a Bearer header
// holds no well-formed API token. The scheme is case-insensitive (RFC 9110 11.1).
func ParseBearer(header string) (token string, ok bool, err error) {
	h := strings.Trim(header, " \t")
	scheme, rest := h, ""
	if i := strings.IndexAny(h, " \t"); i >= 0 {
		scheme, rest = h[:i], h[i+1:]
	}
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false, nil
	}
	token = strings.Trim(rest, " \t")
	if !WellFormed(API, token) {
		return "", true, ErrMalformed
	}
	return token, true, nil
}
