package git

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Secret keys of a GitHub App, as in Flux's GitRepository with
// spec.provider github.
const (
	KeyGitHubAppID             = "githubAppID"
	KeyGitHubAppInstallationID = "githubAppInstallationID"
	KeyGitHubAppPrivateKey     = "githubAppPrivateKey"
	KeyGitHubAppBaseURL        = "githubAppBaseURL"
)

// ErrGitHubApp is returned (wrapped) when a GitHub App's installation token
// cannot be minted: a bad key or ID, or GitHub refusing the app.
var ErrGitHubApp = errors.New("GitHub App installation token")

// DefaultGitHubAPIURL is the API of github.com.
const DefaultGitHubAPIURL = "https://api.github.com"

// gitHubAppRefreshBefore is how long before its expiry (an hour after it is
// minted) an installation token is replaced.
const gitHubAppRefreshBefore = 5 * time.Minute

// GitHubApp mints installation access tokens of a GitHub App: a JWT signed
// with the app's private key (RS256) is exchanged at
// POST {BaseURL}/app/installations/{InstallationID}/access_tokens. Tokens
// are kept until shortly before they expire, then minted again. It is safe
// for concurrent use; printing it shows the IDs only.
type GitHubApp struct {
	// AppID and InstallationID identify the app and its installation on the
	// repository's owner.
	AppID, InstallationID string
	// BaseURL is the API's base URL. Default: DefaultGitHubAPIURL; GitHub
	// Enterprise Server: https://HOST/api/v3.
	BaseURL string
	// HTTPClient sends the token requests. Default: a client with a 30s
	// timeout.
	HTTPClient *http.Client
	// Now is the clock that dates the JWT and the tokens' expiry. Default:
	// time.Now.
	Now func() time.Time

	key *rsa.PrivateKey

	mu      sync.Mutex
	token   string
	expires time.Time
}

// NewGitHubApp checks the IDs and parses the PEM private key (PKCS#1 or
// PKCS#8 RSA, as GitHub issues it). Its errors never quote the key.
func NewGitHubApp(appID, installationID string, privateKey []byte, baseURL string) (*GitHubApp, error) {
	for name, id := range map[string]string{KeyGitHubAppID: appID, KeyGitHubAppInstallationID: installationID} {
		if _, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64); err != nil {
			return nil, fmt.Errorf("%w: %s %q is not a number", ErrGitHubApp, name, id)
		}
	}
	block, _ := pem.Decode(privateKey)
	if block == nil {
		return nil, fmt.Errorf("%w: %s is not PEM", ErrGitHubApp, KeyGitHubAppPrivateKey)
	}
	var key *rsa.PrivateKey
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		key = k
	} else if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%w: %s is not an RSA key", ErrGitHubApp, KeyGitHubAppPrivateKey)
		}
		key = rk
	} else {
		return nil, fmt.Errorf("%w: %s is not an RSA private key (PKCS#1 or PKCS#8)", ErrGitHubApp, KeyGitHubAppPrivateKey)
	}
	return &GitHubApp{
		AppID:          strings.TrimSpace(appID),
		InstallationID: strings.TrimSpace(installationID),
		BaseURL:        strings.TrimSpace(baseURL),
		key:            key,
	}, nil
}

// CacheKey differs between apps, installations, API URLs and private keys,
// for a cache that keeps one GitHubApp (and so one installation token) per
// credentials across runs. It holds no secret: the key enters as a hash of
// its public half.
func (a *GitHubApp) CacheKey() string {
	h := sha256.New()
	for _, s := range []string{a.AppID, a.InstallationID, a.BaseURL} {
		_, _ = io.WriteString(h, s)
		h.Write([]byte{0})
	}
	if a.key != nil {
		h.Write(a.key.N.Bytes())
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// String names the app without secrets.
func (a *GitHubApp) String() string {
	if a == nil {
		return "GitHubApp(nil)"
	}
	return fmt.Sprintf("GitHubApp(app %s, installation %s)", a.AppID, a.InstallationID)
}

func (a *GitHubApp) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Token returns an installation access token, minting one when there is
// none or it expires within five minutes.
func (a *GitHubApp) Token(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" && a.now().Before(a.expires.Add(-gitHubAppRefreshBefore)) {
		return a.token, nil
	}
	tok, exp, err := a.mint(ctx)
	if err != nil {
		return "", err
	}
	a.token, a.expires = tok, exp
	return tok, nil
}

// current is the last token minted, for redaction.
func (a *GitHubApp) current() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.token
}

// jwt signs the app's JWT: issued a minute in the past (clock drift, as
// GitHub advises), valid for nine minutes (GitHub allows ten).
func (a *GitHubApp) jwt(now time.Time) (string, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	header := b64([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims, err := json.Marshal(map[string]any{
		"iat": now.Add(-time.Minute).Unix(),
		"exp": now.Add(9 * time.Minute).Unix(),
		"iss": a.AppID,
	})
	if err != nil {
		return "", err
	}
	input := header + "." + b64(claims)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, a.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("%w: signing the JWT: %w", ErrGitHubApp, err)
	}
	return input + "." + b64(sig), nil
}

// mint asks GitHub for a new installation token.
func (a *GitHubApp) mint(ctx context.Context) (string, time.Time, error) {
	if a.key == nil {
		return "", time.Time{}, fmt.Errorf("%w: no private key (build it with NewGitHubApp)", ErrGitHubApp)
	}
	jwt, err := a.jwt(a.now())
	if err != nil {
		return "", time.Time{}, err
	}
	base := a.BaseURL
	if base == "" {
		base = DefaultGitHubAPIURL
	}
	u := strings.TrimSuffix(base, "/") + "/app/installations/" + a.InstallationID + "/access_tokens"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %s: %w", ErrGitHubApp, RedactURL(u), err)
	}
	req.Header.Set("Authorization", "Bearer "+jwt)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	hc := a.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %w", ErrGitHubApp, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: reading the answer of %s: %w", ErrGitHubApp, RedactURL(u), err)
	}
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
		Message   string    `json:"message"`
	}
	_ = json.Unmarshal(body, &out) // an unparsable answer fails below
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		msg := out.Message
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		return "", time.Time{}, fmt.Errorf("%w: app %s installation %s: POST %s: %d %s: %s",
			ErrGitHubApp, a.AppID, a.InstallationID, RedactURL(u), resp.StatusCode, http.StatusText(resp.StatusCode), msg)
	}
	if out.Token == "" {
		return "", time.Time{}, fmt.Errorf("%w: app %s installation %s: the answer has no token", ErrGitHubApp, a.AppID, a.InstallationID)
	}
	exp := out.ExpiresAt
	if exp.IsZero() {
		exp = a.now().Add(time.Hour)
	}
	return out.Token, exp, nil
}

// gitHubAppAuth is go-git's HTTP auth method of a GitHub App: each request
// carries the current installation token as the password of
// x-access-token, as GitHub documents for Git over HTTPS.
type gitHubAppAuth struct {
	app *GitHubApp
}

func (g *gitHubAppAuth) Name() string   { return "github-app" }
func (g *gitHubAppAuth) String() string { return g.app.String() }

// SetAuth sets the token. A token that cannot be minted here (Sync minted
// one already, and reported the failure) leaves the request without
// credentials, which the server refuses.
func (g *gitHubAppAuth) SetAuth(r *http.Request) {
	tok, err := g.app.Token(r.Context())
	if err != nil {
		return
	}
	r.SetBasicAuth("x-access-token", tok)
}
