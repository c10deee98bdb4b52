package webhook

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is sound as a MAC; Flux's generic-hmac accepts it
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"strings"
)

// The headers that carry signatures.
const (
	headerGitHubSignature  = "X-Hub-Signature-256"
	headerGenericSignature = "X-Signature"
)

// signatureHash returns the hash function a signature header of a receiver
// type may name, or nil: github signs with HMAC-SHA256 only; generic-hmac
// accepts sha1, sha256 and sha512, as Flux does.
func signatureHash(typ, alg string) func() hash.Hash {
	switch strings.ToLower(alg) {
	case "sha256":
		return sha256.New
	case "sha512":
		if typ == TypeGenericHMAC {
			return sha512.New
		}
	case "sha1":
		if typ == TypeGenericHMAC {
			return sha1.New
		}
	}
	return nil
}

// validSignature checks a signature header of the form ALG=HEX, sent to a
// receiver of type typ, against the HMAC of body keyed with token, in
// constant time.
func validSignature(typ, header, token string, body []byte) bool {
	alg, sig, ok := strings.Cut(strings.TrimSpace(header), "=")
	if !ok {
		return false
	}
	newHash := signatureHash(typ, alg)
	if newHash == nil {
		return false
	}
	want, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(newHash, []byte(token))
	mac.Write(body)
	return hmac.Equal(mac.Sum(nil), want)
}

// validAuthorization checks an Authorization header against a token: the
// header is the token, or "Bearer " and the token. Both sides are hashed
// first, so that the comparison's time says nothing about the token's
// length either.
func validAuthorization(header string, tokenSum [sha256.Size]byte) bool {
	if header == "" {
		return false
	}
	whole := sha256.Sum256([]byte(header))
	ok := subtle.ConstantTimeCompare(whole[:], tokenSum[:])
	if scheme, rest, found := strings.Cut(header, " "); found && strings.EqualFold(scheme, "Bearer") {
		bearer := sha256.Sum256([]byte(strings.TrimSpace(rest)))
		ok |= subtle.ConstantTimeCompare(bearer[:], tokenSum[:])
	}
	return ok == 1
}
