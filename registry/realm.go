package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ErrRealmRefused is returned (wrapped) when a registry's token realm is on
// a private, loopback or link-local IP address that is neither the
// registry's own host nor named in Repo.RealmHosts.
var ErrRealmRefused = errors.New("token realm refused")

// isRealmRefused reports whether err is go-containerregistry refusing a
// realm on a private IP literal (validateRealmURL). Its error is not typed,
// so its text is matched; a test fails if a new version words it otherwise.
func isRealmRefused(err error) bool {
	return err != nil && strings.Contains(err.Error(), "is a private or link-local address")
}

// realmAllowed reports whether a realm on a private address may be used:
// its host is the registry's own host (any port), or it is named in
// trusted as host or host:port.
func realmAllowed(realm *url.URL, registryHost string, trusted []string) bool {
	regHost := registryHost
	if h, _, err := net.SplitHostPort(registryHost); err == nil {
		regHost = h
	}
	if strings.EqualFold(realm.Hostname(), regHost) {
		return true
	}
	for _, t := range trusted {
		if strings.EqualFold(t, realm.Host) || strings.EqualFold(t, realm.Hostname()) {
			return true
		}
	}
	return false
}

// privateRealmTransport authenticates to a registry whose token realm
// go-containerregistry refused (refused is its error) because it is on a
// private IP literal, when realmAllowed says the realm is the registry's
// own or trusted; otherwise it returns an error wrapping ErrRealmRefused.
// It speaks the same Docker token protocol: basic credentials (or none) on
// GET realm?service=&scope=, an identity token as an OAuth2 refresh token
// POSTed to the realm, a registry token used as it is.
func privateRealmTransport(ctx context.Context, ref name.Repository, auth authn.Authenticator, base http.RoundTripper, scopes []string, trusted []string, refused error) (http.RoundTripper, error) {
	pr, err := transport.Ping(ctx, ref.Registry, base)
	if err != nil {
		return nil, err
	}
	realm, err := url.Parse(pr.Parameters["realm"])
	if err != nil || realm.Host == "" {
		return nil, refused
	}
	if realm.Scheme != "https" && (realm.Scheme != "http" || !pr.Insecure) {
		return nil, refused
	}
	if !realmAllowed(realm, ref.RegistryStr(), trusted) {
		return nil, fmt.Errorf("%w: realm host %s is a private address that is not the registry's host; name it in the ImageRepository's spec.tokenRealmHosts to trust it: %w", ErrRealmRefused, realm.Host, refused)
	}
	scheme := "https"
	if pr.Insecure {
		scheme = "http"
	}
	bt := &realmBearer{
		inner:    base,
		registry: ref.RegistryStr(),
		scheme:   scheme,
		realm:    realm,
		service:  pr.Parameters["service"],
		scopes:   scopes,
		auth:     auth,
	}
	if err := bt.refresh(ctx); err != nil {
		return nil, err
	}
	return bt, nil
}

// realmBearer adds a bearer token from the realm to each request to the
// registry, and gets a new one once when the registry answers 401.
type realmBearer struct {
	inner    http.RoundTripper
	registry string
	scheme   string
	realm    *url.URL
	service  string
	scopes   []string
	auth     authn.Authenticator

	mu    sync.Mutex
	token string
}

func (t *realmBearer) RoundTrip(req *http.Request) (*http.Response, error) {
	send := func() (*http.Response, error) {
		r := req.Clone(req.Context())
		if r.URL.Host == t.registry {
			r.URL.Scheme = t.scheme
			t.mu.Lock()
			r.Header.Set("Authorization", "Bearer "+t.token)
			t.mu.Unlock()
		}
		return t.inner.RoundTrip(r)
	}
	resp, err := send()
	if err != nil || resp.StatusCode != http.StatusUnauthorized || req.URL.Host != t.registry {
		return resp, err
	}
	if req.Body != nil && req.GetBody == nil {
		return resp, nil
	}
	_ = resp.Body.Close()
	if err := t.refresh(req.Context()); err != nil {
		return nil, err
	}
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		req = req.Clone(req.Context())
		req.Body = body
	}
	return send()
}

// refresh gets a token from the realm.
func (t *realmBearer) refresh(ctx context.Context) error {
	cfg, err := authn.Authorization(ctx, t.auth)
	if err != nil {
		return err
	}
	if cfg.RegistryToken != "" {
		t.setToken(cfg.RegistryToken)
		return nil
	}
	u := *t.realm
	var req *http.Request
	if cfg.IdentityToken != "" {
		form := url.Values{
			"grant_type":    {"refresh_token"},
			"refresh_token": {cfg.IdentityToken},
			"service":       {t.service},
			"client_id":     {"hoist"},
			"scope":         {strings.Join(t.scopes, " ")},
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		q := u.Query()
		if t.service != "" {
			q.Set("service", t.service)
		}
		for _, s := range t.scopes {
			q.Add("scope", s)
		}
		u.RawQuery = q.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return err
		}
		if cfg.Username != "" || cfg.Password != "" {
			req.SetBasicAuth(cfg.Username, cfg.Password)
		}
	}
	resp, err := (&http.Client{Transport: t.inner, CheckRedirect: noRedirect}).Do(req)
	if err != nil {
		return fmt.Errorf("token from %s: %w", redactURL(t.realm), cleanError(err))
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("token from %s: reading answer: %w", redactURL(t.realm), err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("token from %s: %w", redactURL(t.realm), newHTTPError(req, resp.StatusCode, body))
	}
	var tok transport.Token
	if err := json.Unmarshal(body, &tok); err != nil {
		return fmt.Errorf("token from %s: %s", redactURL(t.realm), jsonErrorWithoutInput(err))
	}
	switch {
	case tok.Token != "":
		t.setToken(tok.Token)
	case tok.AccessToken != "":
		t.setToken(tok.AccessToken)
	default:
		return fmt.Errorf("token from %s: answer has no token", redactURL(t.realm))
	}
	return nil
}

func (t *realmBearer) setToken(s string) {
	t.mu.Lock()
	t.token = s
	t.mu.Unlock()
}
