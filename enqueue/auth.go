package enqueue

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// TokensEnv names the environment variable that holds the API's bearer
// tokens, comma-separated.
const TokensEnv = "ENQUEUE_API_TOKENS"

// minTokenLen is the shortest bearer token the server accepts.
const minTokenLen = 16

// tokenSet holds the SHA-256 sums of the API's bearer tokens. Comparing
// sums of equal length in constant time tells nothing about a token's
// length or its prefix, whichever token matches.
type tokenSet struct {
	sums [][sha256.Size]byte
}

// parseTokens parses the value of ENQUEUE_API_TOKENS: tokens separated by
// commas, spaces around them ignored. It returns nil for an empty value.
func parseTokens(s string) (*tokenSet, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	ts := &tokenSet{}
	for i, tok := range strings.Split(s, ",") {
		tok = strings.TrimSpace(tok)
		switch {
		case tok == "":
			return nil, fmt.Errorf("%s: token %d is empty (a stray comma?)", TokensEnv, i+1)
		case len(tok) < minTokenLen:
			return nil, fmt.Errorf("%s: token %d is %d characters; want at least %d (e.g. openssl rand -hex 32)", TokensEnv, i+1, len(tok), minTokenLen)
		case strings.IndexFunc(tok, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
			return nil, fmt.Errorf("%s: token %d has a character outside printable ASCII", TokensEnv, i+1)
		}
		ts.sums = append(ts.sums, sha256.Sum256([]byte(tok)))
	}
	return ts, nil
}

// match returns the caller's scope for the bearer token tok (the first
// bytes of its sum, in hex: idempotency keys are kept per scope), or false.
// Every token is compared, each in constant time.
func (ts *tokenSet) match(tok string) (string, bool) {
	sum := sha256.Sum256([]byte(tok))
	found := -1
	for i := range ts.sums {
		if subtle.ConstantTimeCompare(sum[:], ts.sums[i][:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", false
	}
	return hex.EncodeToString(ts.sums[found][:8]), true
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header.
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
