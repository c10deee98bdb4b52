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
	headerHubSignature     = "X-Hub-Signature" // GitHub's legacy SHA-1 header; Bitbucket Server's
	headerGenericSignature = "X-Signature"
	headerGitLabToken      = "X-Gitlab-Token"
	headerNexusSignature   = "X-Nexus-Webhook-Signature"
)

// githubLegacy is the pseudo-type whose signatures are GitHub's SHA-1
// X-Hub-Signature, accepted only when no SHA-256 signature is sent.
const githubLegacy = "github-sha1"

// signatureHash returns the hash function a signature header of a receiver
// type may name, or nil: github signs with HMAC-SHA256 (githubLegacy with
// SHA-1); generic-hmac and bitbucket accept sha1, sha256 and sha512, as
// Flux does; nexus signs with SHA-1.
func signatureHash(typ, alg string) func() hash.Hash {
	anyAlg := typ == TypeGenericHMAC || typ == TypeBitbucket
	switch strings.ToLower(alg) {
	case "sha256":
		if typ != githubLegacy && typ != TypeNexus {
			return sha256.New
		}
	case "sha512":
		if anyAlg {
			return sha512.New
		}
	case "sha1":
		if anyAlg || typ == githubLegacy || typ == TypeNexus {
			return sha1.New
		}
	}
	return nil
}

// validToken compares a header that carries the token itself (GitLab's
// X-Gitlab-Token) with the token, in constant time.
func validToken(header string, tokenSum [sha256.Size]byte) bool {
	if header == "" {
		return false
	}
	sum := sha256.Sum256([]byte(header))
	return subtle.ConstantTimeCompare(sum[:], tokenSum[:]) == 1
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
