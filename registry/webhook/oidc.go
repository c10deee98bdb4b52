package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
)

// DefaultOIDCAudience is the audience (aud claim) the ID tokens of a
// generic-oidc receiver must carry when its provider names none, as in Flux.
const DefaultOIDCAudience = "notification-controller"

// ErrInvalidOIDCProvider is returned (wrapped) by CompileOIDCProviders for a
// provider that cannot authenticate requests: no issuer URL, or one that is
// not http(s), the same issuer twice, no validation, or a CEL expression
// that does not compile.
var ErrInvalidOIDCProvider = errors.New("invalid oidcProvider")

// OIDCProvider is an issuer whose ID tokens a generic-oidc receiver accepts,
// Flux's spec.oidcProviders[]: a request's bearer token is verified by the
// provider whose IssuerURL is its iss claim (signature by a key of the
// issuer's JWKS, found through its discovery document; expiry; audience),
// then every validation must be true of its claims.
type OIDCProvider struct {
	// IssuerURL is the issuer, http:// or https://; its discovery document
	// is IssuerURL/.well-known/openid-configuration.
	IssuerURL string
	// Audience is the aud claim required; "": DefaultOIDCAudience.
	Audience string
	// Variables are CEL expressions over claims and the variables before
	// them (vars), evaluated in order, each as vars.NAME.
	Variables []OIDCVariable
	// Validations are CEL expressions over claims and vars that must all be
	// true; the messages of those that are not make the refusal's reason.
	// At least one: public issuers sign tokens for anyone on their
	// platform, so a valid signature alone authorizes nothing.
	Validations []OIDCValidation
}

// OIDCVariable is a named CEL expression of an OIDCProvider.
type OIDCVariable struct{ Name, Expression string }

// OIDCValidation is a CEL expression of an OIDCProvider that must be true,
// and what a refusal says when it is not.
type OIDCValidation struct{ Expression, Message string }

// audience returns the aud claim the provider requires.
func (p OIDCProvider) audience() string {
	if p.Audience != "" {
		return p.Audience
	}
	return DefaultOIDCAudience
}

var (
	issuerURLPattern = regexp.MustCompile(`^https?://`)
	celIdentifier    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// oidcAlgorithms are the signature algorithms accepted, those of
// go-oidc's verifier, which Flux uses.
var oidcAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512, jose.EdDSA,
}

// compiledProvider is an OIDCProvider with its expressions compiled.
type compiledProvider struct {
	OIDCProvider
	variables   []cel.Program
	validations []cel.Program
}

// CompileOIDCProviders checks the providers of a generic-oidc receiver as
// Flux does and compiles their expressions; errors wrap
// ErrInvalidOIDCProvider and name the provider by index and issuer.
func CompileOIDCProviders(providers []OIDCProvider) error {
	_, err := compileProviders(providers)
	return err
}

func compileProviders(providers []OIDCProvider) ([]compiledProvider, error) {
	if len(providers) == 0 {
		return nil, fmt.Errorf("%w: none (generic-oidc needs at least one)", ErrInvalidOIDCProvider)
	}
	env, err := cel.NewEnv(
		cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("vars", cel.MapType(cel.StringType, cel.DynType)),
		ext.Strings(), ext.Encoders(), ext.Lists(), ext.Sets(),
	)
	if err != nil {
		return nil, fmt.Errorf("oidcProviders: CEL environment: %w", err)
	}
	compile := func(expr string, boolean bool) (cel.Program, error) {
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			msg, _, _ := strings.Cut(iss.Err().Error(), "\n")
			return nil, fmt.Errorf("%q: %s", truncate(expr), strings.TrimPrefix(msg, "ERROR: "))
		}
		if t := ast.OutputType(); boolean && !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
			return nil, fmt.Errorf("%q: returns %s, want a boolean", truncate(expr), t)
		}
		return env.Program(ast, cel.InterruptCheckFrequency(100))
	}
	seen := make(map[string]bool, len(providers))
	out := make([]compiledProvider, 0, len(providers))
	for i, p := range providers {
		at := fmt.Sprintf("oidcProviders[%d]", i)
		switch {
		case p.IssuerURL == "":
			return nil, fmt.Errorf("%w: %s: issuerURL is required", ErrInvalidOIDCProvider, at)
		case !issuerURLPattern.MatchString(p.IssuerURL):
			return nil, fmt.Errorf("%w: %s: issuerURL %q: want http:// or https://", ErrInvalidOIDCProvider, at, truncate(p.IssuerURL))
		case seen[p.IssuerURL]:
			return nil, fmt.Errorf("%w: %s: issuerURL %q twice", ErrInvalidOIDCProvider, at, truncate(p.IssuerURL))
		case len(p.Validations) == 0:
			return nil, fmt.Errorf("%w: %s (issuer %q): at least one validation is required: without one, anyone the issuer signs a token for could trigger the receiver",
				ErrInvalidOIDCProvider, at, truncate(p.IssuerURL))
		}
		seen[p.IssuerURL] = true
		cp := compiledProvider{OIDCProvider: p}
		for j, v := range p.Variables {
			if !celIdentifier.MatchString(v.Name) {
				return nil, fmt.Errorf("%w: %s.variables[%d]: name %q: want a CEL identifier", ErrInvalidOIDCProvider, at, j, truncate(v.Name))
			}
			prg, err := compile(v.Expression, false)
			if err != nil {
				return nil, fmt.Errorf("%w: %s.variables[%d] (%s): %w", ErrInvalidOIDCProvider, at, j, v.Name, err)
			}
			cp.variables = append(cp.variables, prg)
		}
		for j, v := range p.Validations {
			if v.Message == "" {
				return nil, fmt.Errorf("%w: %s.validations[%d]: message is required", ErrInvalidOIDCProvider, at, j)
			}
			prg, err := compile(v.Expression, true)
			if err != nil {
				return nil, fmt.Errorf("%w: %s.validations[%d]: %w", ErrInvalidOIDCProvider, at, j, err)
			}
			cp.validations = append(cp.validations, prg)
		}
		out = append(out, cp)
	}
	return out, nil
}

// evaluate runs the provider's variables, then its validations, over
// verified claims: the messages of the validations that are false make the
// error, as Flux joins them.
func (p *compiledProvider) evaluate(ctx context.Context, claims map[string]any) error {
	vars := map[string]any{}
	act := map[string]any{"claims": claims, "vars": vars}
	for i, prg := range p.variables {
		out, _, err := prg.ContextEval(ctx, act)
		if err != nil {
			return fmt.Errorf("variable %q: %w", p.Variables[i].Name, err)
		}
		vars[p.Variables[i].Name] = out
	}
	var failed []string
	for i, prg := range p.validations {
		out, _, err := prg.ContextEval(ctx, act)
		if err != nil {
			return fmt.Errorf("validation %q: %w", p.Validations[i].Message, err)
		}
		if b, ok := out.Value().(bool); !ok || out.Type() != types.BoolType {
			return fmt.Errorf("validation %q: returned %v, want a boolean", p.Validations[i].Message, out.Type())
		} else if !b {
			failed = append(failed, p.Validations[i].Message)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("token validation failed: %s", strings.Join(failed, "; "))
	}
	return nil
}

// oidcIssuers caches, per issuer URL, the key set its discovery document
// names. A discovery that fails is tried again at most once a minute, so
// that a stream of tokens naming a configured issuer does not become a
// stream of requests to it. It is safe for concurrent use.
type oidcIssuers struct {
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex
	issuers map[string]*oidcIssuer
}

type oidcIssuer struct {
	keys    *JWKS
	err     error
	triedAt time.Time
}

func newOIDCIssuers(client *http.Client, now func() time.Time) *oidcIssuers {
	if client == nil {
		client = http.DefaultClient
	}
	return &oidcIssuers{client: client, now: now, issuers: map[string]*oidcIssuer{}}
}

// keySet returns the key set of issuer, discovering it on first use.
func (o *oidcIssuers) keySet(ctx context.Context, issuer string) (*JWKS, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	is := o.issuers[issuer]
	if is != nil && (is.keys != nil || o.now().Sub(is.triedAt) < jwksRefetch) {
		return is.keys, is.err
	}
	keys, err := o.discover(ctx, issuer)
	o.issuers[issuer] = &oidcIssuer{keys: keys, err: err, triedAt: o.now()}
	return keys, err
}

// discover reads the issuer's discovery document, which must name the
// issuer itself (as go-oidc checks) and its jwks_uri.
func (o *oidcIssuers) discover(ctx context.Context, issuer string) (*JWKS, error) {
	url := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("discovering issuer %q: %w", truncate(issuer), err)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("discovering issuer %q: %w", truncate(issuer), err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("discovering issuer %q: %s: %s", truncate(issuer), url, resp.Status)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("discovering issuer %q: reading %s: %w", truncate(issuer), url, err)
	}
	if doc.Issuer != issuer {
		return nil, fmt.Errorf("discovering issuer %q: the document at %s names issuer %q", truncate(issuer), url, truncate(doc.Issuer))
	}
	if !issuerURLPattern.MatchString(doc.JWKSURI) {
		return nil, fmt.Errorf("discovering issuer %q: jwks_uri %q: want an http(s) URL", truncate(issuer), truncate(doc.JWKSURI))
	}
	return NewJWKS(doc.JWKSURI, o.client, o.now), nil
}

// verifyOIDCToken authenticates a generic-oidc request as Flux does: the
// bearer token's issuer (read before verifying, only to pick the provider)
// must be the IssuerURL of one of providers; the token must be signed by a
// key of that issuer's key set, carry the provider's audience, name an
// expiry that has not passed, and every validation of the provider must be
// true of its claims. It returns the claims, which resourceFilter sees.
// The reason it is refused names no secret.
func verifyOIDCToken(ctx context.Context, issuers *oidcIssuers, providers []compiledProvider, now time.Time, authorization string) (map[string]any, error) {
	const prefix = "Bearer "
	if !strings.HasPrefix(authorization, prefix) {
		return nil, errors.New("the Authorization header is missing or malformed")
	}
	raw := strings.TrimSpace(authorization[len(prefix):])
	if raw == "" {
		return nil, errors.New("the Authorization header is missing a bearer token")
	}
	tok, err := jwt.ParseSigned(raw, oidcAlgorithms)
	if err != nil {
		return nil, fmt.Errorf("ID token: %w", err)
	}
	if len(tok.Headers) != 1 {
		return nil, errors.New("ID token: want one signature")
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, fmt.Errorf("ID token: %w", err)
	}
	var p *compiledProvider
	for i := range providers {
		if providers[i].IssuerURL == unverified.Issuer {
			p = &providers[i]
			break
		}
	}
	if p == nil {
		return nil, fmt.Errorf("ID token: no oidcProvider for issuer %q", truncate(unverified.Issuer))
	}
	keys, err := issuers.keySet(ctx, p.IssuerURL)
	if err != nil {
		return nil, fmt.Errorf("ID token: %w", err)
	}
	key, err := keys.key(ctx, tok.Headers[0].KeyID)
	if err != nil {
		return nil, fmt.Errorf("ID token: %w", err)
	}
	var std jwt.Claims
	var claims map[string]any
	if err := tok.Claims(key.Key, &std, &claims); err != nil {
		return nil, fmt.Errorf("ID token: bad signature or claims: %w", err)
	}
	if std.Expiry == nil {
		return nil, errors.New("ID token: no expiry (exp)")
	}
	want := jwt.Expected{Issuer: p.IssuerURL, AnyAudience: jwt.Audience{p.audience()}, Time: now}
	if err := std.ValidateWithLeeway(want, jwt.DefaultLeeway); err != nil {
		if errors.Is(err, jwt.ErrInvalidAudience) {
			return nil, fmt.Errorf("ID token: audience %q, want %q: %w", truncate(strings.Join(std.Audience, ",")), p.audience(), err)
		}
		return nil, fmt.Errorf("ID token: %w", err)
	}
	if claims == nil {
		claims = map[string]any{}
	}
	if err := p.evaluate(ctx, claims); err != nil {
		return nil, err
	}
	return claims, nil
}
