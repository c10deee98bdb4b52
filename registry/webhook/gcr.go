package webhook

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// GoogleJWKSURL is where Google publishes the keys that sign the ID tokens of
// Pub/Sub push subscriptions, the default of NewJWKS's url for gcr receivers.
const GoogleJWKSURL = "https://www.googleapis.com/oauth2/v3/certs"

// googleIssuers are the issuers of Google's ID tokens, as Flux checks them.
var googleIssuers = []string{"accounts.google.com", "https://accounts.google.com"}

// jwksRefetch is the least time between two fetches of a JWKS caused by a
// token signed with a key not in the cached set: a stream of forged tokens
// must not become a stream of requests to the key server.
const jwksRefetch = time.Minute

// JWKS is a JSON Web Key Set fetched from a URL and cached: it is fetched
// again when a token names a key it does not hold, at most once a minute.
// It is safe for concurrent use.
type JWKS struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex
	keys    jose.JSONWebKeySet
	fetched time.Time
}

// NewJWKS returns the key set served at url, fetched with client (nil:
// http.DefaultClient) on first use; now is the clock (nil: time.Now).
func NewJWKS(url string, client *http.Client, now func() time.Time) *JWKS {
	if client == nil {
		client = http.DefaultClient
	}
	if now == nil {
		now = time.Now
	}
	return &JWKS{url: url, client: client, now: now}
}

// key returns the key of id kid, fetching the set when it does not hold it.
func (s *JWKS) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.keys.Key(kid); len(k) > 0 {
		return &k[0], nil
	}
	if !s.fetched.IsZero() && s.now().Sub(s.fetched) < jwksRefetch {
		return nil, fmt.Errorf("no key %q in the key set of %s", truncate(kid), s.url)
	}
	if err := s.fetch(ctx); err != nil {
		return nil, err
	}
	if k := s.keys.Key(kid); len(k) > 0 {
		return &k[0], nil
	}
	return nil, fmt.Errorf("no key %q in the key set of %s", truncate(kid), s.url)
}

func (s *JWKS) fetch(ctx context.Context) error {
	s.fetched = s.now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return fmt.Errorf("fetching the key set %s: %w", s.url, err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetching the key set: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching the key set %s: %s", s.url, resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return fmt.Errorf("reading the key set %s: %w", s.url, err)
	}
	s.keys = set
	return nil
}

// verifyGoogleIDToken checks the bearer token of a gcr request as Flux does:
// an ID token signed by a key of keys, not expired, issued by Google, for
// audience (when set), of the service account email (when set), whose email
// is verified. The reason it is refused names no secret.
func verifyGoogleIDToken(ctx context.Context, keys *JWKS, now time.Time, authorization, audience, email string) error {
	const prefix = "Bearer "
	if keys == nil {
		return errors.New("no key set for ID tokens")
	}
	if !strings.HasPrefix(authorization, prefix) {
		return errors.New("the Authorization header is missing or malformed")
	}
	tok, err := jwt.ParseSigned(strings.TrimSpace(authorization[len(prefix):]),
		[]jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return fmt.Errorf("ID token: %w", err)
	}
	if len(tok.Headers) != 1 {
		return errors.New("ID token: want one signature")
	}
	key, err := keys.key(ctx, tok.Headers[0].KeyID)
	if err != nil {
		return fmt.Errorf("ID token: %w", err)
	}
	var std jwt.Claims
	var extra struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
	}
	if err := tok.Claims(key.Key, &std, &extra); err != nil {
		return fmt.Errorf("ID token: %w", err)
	}
	want := jwt.Expected{Time: now}
	if audience != "" {
		want.AnyAudience = jwt.Audience{audience}
	}
	if err := std.ValidateWithLeeway(want, jwt.DefaultLeeway); err != nil {
		return fmt.Errorf("ID token: audience %q, want %q: %w", truncate(strings.Join(std.Audience, ",")), audience, err)
	}
	if !slices.Contains(googleIssuers, std.Issuer) {
		return fmt.Errorf("ID token: issuer %q, want accounts.google.com or https://accounts.google.com", truncate(std.Issuer))
	}
	if email != "" && extra.Email != email {
		return fmt.Errorf("ID token: email %q, want %q", truncate(extra.Email), email)
	}
	if !extra.EmailVerified {
		return fmt.Errorf("ID token: email %q is not verified", truncate(extra.Email))
	}
	return nil
}

// parseGCR reads a Pub/Sub push message of Artifact Registry (or Container
// Registry) notifications: message.data is base64 JSON with action, digest
// and tag, each an image reference. An INSERT names the image of its tag or
// digest; a DELETE is ignored; a message without either names every
// resource.
func parseGCR(body []byte) (Event, error) {
	var p struct {
		Message struct {
			Data string `json:"data"`
		} `json:"message"`
	}
	if err := decode(TypeGCR, body, &p); err != nil {
		return Event{}, err
	}
	if p.Message.Data == "" {
		return Event{AllResources: true}, nil
	}
	raw, err := base64.StdEncoding.DecodeString(p.Message.Data)
	if err != nil {
		return Event{}, fmt.Errorf("gcr payload: %w: message.data: %v", ErrMalformed, err)
	}
	var d struct {
		Action string `json:"action"`
		Digest string `json:"digest"`
		Tag    string `json:"tag"`
	}
	if err := decode(TypeGCR, raw, &d); err != nil {
		return Event{}, err
	}
	if d.Action != "" && !strings.EqualFold(d.Action, "INSERT") {
		return Event{Ignored: fmt.Sprintf("gcr action %q", truncate(d.Action))}, nil
	}
	ref := d.Tag
	if ref == "" {
		ref = d.Digest
	}
	if ref == "" {
		return Event{AllResources: true}, nil
	}
	image, tag := splitReference(ref)
	b := eventBuilder{typ: TypeGCR}
	if err := b.add(image, tag); err != nil {
		return Event{}, err
	}
	return b.event(""), nil
}

// splitReference splits REPOSITORY[:TAG][@DIGEST] into the repository and
// the tag.
func splitReference(ref string) (repo, tag string) {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}
