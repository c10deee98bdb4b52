package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Client reads registries. Build it once with New and share it: its limits
// are per registry host across every repository and every call. It is safe
// for concurrent use.
type Client struct {
	o                *options
	secure, insecure http.RoundTripper

	cloud *cloudAuth

	mu    sync.Mutex
	conns map[connKey]*conn
	// pages holds, per repository listed in one page, the SHA-256 of that
	// page's body and the Sum of its tags (see Repo.KnownSum).
	pages map[string]pageSum

	// refs holds the repositories parsed so far, by image and Insecure
	// (a name.Repository; see parseRepo): one per repository asked for.
	refs sync.Map

	// verified holds the digests verified in this process, by key ID and
	// digest (see Verify); the registry cache keeps them across processes.
	verified sync.Map
}

// Repo names a repository and how to reach it.
type Repo struct {
	// Image is the repository, without tag or digest:
	// "ghcr.io/stefanprodan/podinfo", "nginx" (Docker Hub), "127.0.0.1:5000/app".
	Image string
	// Insecure allows plain HTTP and TLS without verification for this
	// repository's registry. Off unless a document asks for it.
	Insecure bool
	// Keychain holds credentials for this repository, consulted before the
	// Client's keychain; typically a *DockerConfig from ReadDockerConfigSecret.
	// Nil: the Client's keychain only.
	Keychain authn.Keychain
	// Timeout bounds each call for this repository (all pages, retries and
	// waits included). Zero: the context's deadline only.
	Timeout time.Duration
	// Provider logs in with a cloud identity instead of the Client's
	// keychain: ProviderAWS (ECR), ProviderGCP (Artifact Registry, GCR),
	// ProviderAzure (ACR). The registry host must belong to the cloud.
	// Keychain, when it has credentials for the repository, still comes
	// first. "" or ProviderGeneric: no cloud login.
	Provider string
	// Identity, with a Provider, logs in as this workload identity (a
	// Kubernetes ServiceAccount's) instead of the process's own. Nil: the
	// process's.
	Identity *CloudIdentity
	// RealmHosts names token services (host, or host:port) that may sit on
	// a private or loopback IP address. By default a registry's token realm
	// on such an address is refused (go-containerregistry's guard against a
	// registry sending credentials to an internal service), unless it is on
	// the registry's own host.
	RealmHosts []string
	// KnownSum, when set, is the TagList.Sum of the repository's list the
	// caller already holds what it needs from. When the registry answers
	// with the very bytes that list came in (one page, no Link), ListTags
	// returns TagList{Sum: KnownSum, Unchanged: true} without decoding
	// it and without Tags.
	KnownSum [32]byte
}

// pageSum is what Client.pages keeps of a repository's one-page list.
type pageSum struct {
	body, tags [32]byte
}

// New builds a Client. See the With* options for the defaults.
func New(opts ...Option) (*Client, error) {
	o, err := makeOptions(opts...)
	if err != nil {
		return nil, err
	}
	secureBase, insecureBase, err := baseTransports(o)
	if err != nil {
		return nil, fmt.Errorf("registry client: %w", err)
	}
	limits := newHostLimits(o)
	return &Client{
		o:        o,
		secure:   newPingTransport(newTransport(o, secureBase, limits), o.clock),
		insecure: newPingTransport(newTransport(o, insecureBase, limits), o.clock),
		cloud:    newCloudAuth(o.clock, o.cloudHTTP, o.googleAPIs),
		conns:    make(map[connKey]*conn),
		pages:    make(map[string]pageSum),
	}, nil
}

// connKey names a repository's connection: one per repository and the
// settings that change how it connects.
type connKey struct {
	repo       string // name.Repository.Name
	insecure   bool
	realmHosts string // Repo.RealmHosts, joined by ","
}

// conn is an authenticated HTTP client for one repository (pull scope).
type conn struct {
	ref name.Repository
	// scheme is ref.Scheme(), kept: go-containerregistry works it out
	// anew at each call (with CIDRs parsed and regular expressions run).
	scheme string
	fp     [32]byte // of the credentials it was made with
	client *http.Client
}

// refKey names a parsed repository in Client.refs.
type refKey struct {
	image    string
	insecure bool
}

// parseRepo validates a Repo's image name, once per image: parsing runs
// regular expressions, a cost at every rescan of a repository otherwise.
func (c *Client) parseRepo(r Repo) (name.Repository, error) {
	key := refKey{r.Image, r.Insecure}
	if v, ok := c.refs.Load(key); ok {
		return v.(name.Repository), nil
	}
	ref, err := parseRepo(r)
	if err != nil {
		return name.Repository{}, err
	}
	c.refs.Store(key, ref)
	return ref, nil
}

// Forget drops what the Client keeps per repository (its parsed name, its
// connection and token, the sum of its last one-page list) for every image
// that keep rejects, as after a reload removed its ImageRepository: without
// it, a service that runs for months would keep every repository it was
// ever asked for. A repository asked for again is connected anew.
func (c *Client) Forget(keep func(image string) bool) {
	kept := map[string]bool{}
	var dropped []refKey
	c.refs.Range(func(k, v any) bool {
		key := k.(refKey)
		if keep(key.image) {
			kept[v.(name.Repository).Name()] = true
		} else {
			dropped = append(dropped, key)
		}
		return true
	})
	for _, k := range dropped {
		c.refs.Delete(k)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.conns {
		if !kept[k.repo] {
			delete(c.conns, k)
		}
	}
	for repo := range c.pages {
		if !kept[repo] {
			delete(c.pages, repo)
		}
	}
}

// parseRepo validates a Repo's image name.
func parseRepo(r Repo) (name.Repository, error) {
	var opts []name.Option
	if r.Insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.NewRepository(r.Image, opts...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("%w %q: %w", ErrInvalidRepository, r.Image, err)
	}
	return ref, nil
}

// withTimeout bounds ctx by d when d > 0; else it returns ctx as it is
// (nothing started under it outlives the call).
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return ctx, func() {}
}

// connect returns the authenticated client for ref (whose Name is repo), reusing the one made by
// an earlier call with the same credentials (one token per repository, not
// per call; the ping is shared by the repositories of a host, see
// pingTransport).
func (c *Client) connect(ctx context.Context, ref name.Repository, repo string, r Repo) (*conn, error) {
	auth, err := c.authenticator(ctx, ref, r)
	if err != nil {
		return nil, err
	}
	fp, err := fingerprint(ctx, auth)
	if err != nil {
		return nil, fmt.Errorf("reading credentials for %s: %w", ref.RegistryStr(), err)
	}
	// One connection per repository: new credentials (a rotated secret, a
	// refreshed cloud token) replace the old connection rather than pile up.
	key := connKey{repo: repo, insecure: r.Insecure}
	switch len(r.RealmHosts) {
	case 0:
	case 1:
		key.realmHosts = r.RealmHosts[0]
	default:
		key.realmHosts = strings.Join(r.RealmHosts, ",")
	}
	c.mu.Lock()
	cn, ok := c.conns[key]
	c.mu.Unlock()
	if ok && cn.fp == fp {
		return cn, nil
	}
	base := c.secure
	if r.Insecure {
		base = c.insecure
	}
	scopes := []string{ref.Scope(transport.PullScope)}
	rt, err := transport.NewWithContext(ctx, ref.Registry, auth, base, scopes)
	if err != nil && isRealmRefused(err) {
		rt, err = privateRealmTransport(ctx, ref, auth, base, scopes, r.RealmHosts, err)
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", ref.RegistryStr(), classify(err))
	}
	cn = &conn{ref: ref, scheme: ref.Scheme(), fp: fp, client: &http.Client{Transport: rt, CheckRedirect: checkRedirect}}
	c.mu.Lock()
	c.conns[key] = cn
	c.mu.Unlock()
	return cn, nil
}

// checkRedirect follows at most 5 redirects (blob storage), only over
// HTTPS or to the same host.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("stopped after 5 redirects")
	}
	if req.URL.Scheme != "https" && req.URL.Host != via[0].URL.Host {
		return fmt.Errorf("refusing redirect to plain HTTP on another host %s", req.URL.Host)
	}
	return nil
}

// authenticator picks credentials: the Repo's keychain, else its cloud
// provider's identity, else the Client's keychain (Docker's config.json),
// else anonymous.
func (c *Client) authenticator(ctx context.Context, ref name.Repository, r Repo) (authn.Authenticator, error) {
	if r.Keychain != nil {
		a, err := authn.Resolve(ctx, r.Keychain, ref)
		if err != nil {
			return nil, fmt.Errorf("resolving credentials for %s: %w", ref.Name(), err)
		}
		if a != authn.Anonymous {
			return a, nil
		}
	}
	if r.Provider != "" && r.Provider != ProviderGeneric {
		base := c.secure
		if r.Insecure {
			base = c.insecure
		}
		return c.cloud.authenticator(ctx, r.Provider, r.Identity, ref, base)
	}
	a, err := authn.Resolve(ctx, c.o.keychain, ref)
	if err != nil {
		return nil, fmt.Errorf("resolving credentials for %s: %w", ref.Name(), err)
	}
	return a, nil
}

// fingerprint hashes credentials so that a change of secret gets a new
// connection; the hash stays in memory and is never printed. It runs at
// every scan, so it allocates nothing for credentials of usual length.
func fingerprint(ctx context.Context, a authn.Authenticator) ([32]byte, error) {
	if a == authn.Anonymous {
		return anonymousFingerprint, nil
	}
	cfg, err := authn.Authorization(ctx, a)
	if err != nil {
		return [32]byte{}, err
	}
	return fingerprintConfig(cfg), nil
}

// anonymousFingerprint is the fingerprint of no credentials.
var anonymousFingerprint = fingerprintConfig(&authn.AuthConfig{})

func fingerprintConfig(cfg *authn.AuthConfig) [32]byte {
	var buf [256]byte
	b := buf[:0]
	for _, s := range []string{cfg.Username, cfg.Password, cfg.Auth, cfg.IdentityToken, cfg.RegistryToken} {
		b = append(b, s...)
		b = append(b, 0)
	}
	return sha256.Sum256(b)
}

// classify makes go-containerregistry's transport errors (ping, token)
// match this package's sentinels.
func classify(err error) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		return err
	}
	var sentinel error
	switch te.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		sentinel = ErrUnauthorized
	case http.StatusNotFound:
		sentinel = ErrNotFound
	case http.StatusTooManyRequests:
		sentinel = ErrRateLimited
	default:
		return err
	}
	return fmt.Errorf("%w: %w", sentinel, err)
}

// do sends one request and reads the answer, returning its body and header;
// a status other than 200 is an *HTTPError.
// readBody reads at most maxBody+1 bytes of resp's body, into one buffer
// of the announced length when there is one (a tag list page is read in
// one allocation rather than grown from 512 bytes by doubling); a body
// that attemptTransport read already is taken as it is.
// readBuffers are readBody's buffers for bodies of unknown length.
var readBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func readBody(resp *http.Response) ([]byte, error) {
	if b, ok := resp.Body.(bufferedBody); ok && b.Len() == len(b.data) {
		return b.data, nil
	}
	r := io.LimitReader(resp.Body, maxBody+1)
	n := resp.ContentLength
	if n <= 0 || n > maxBody {
		// No length (a chunked answer, as Distribution's tag lists
		// are): read into a reused buffer, then copy out exactly.
		buf := readBuffers.Get().(*bytes.Buffer)
		defer readBuffers.Put(buf)
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return nil, err
		}
		return bytes.Clone(buf.Bytes()), nil
	}
	buf := make([]byte, 0, n+1) // +1: room to see the end
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // longer than announced
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func (cn *conn) do(ctx context.Context, method, rawURL string, accept []string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("building request: %w", cleanError(err))
	}
	if len(accept) > 0 {
		req.Header.Set("Accept", strings.Join(accept, ", "))
	}
	resp, err := cn.client.Do(req)
	if err != nil {
		return nil, nil, classify(cleanError(err))
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := readBody(resp)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: reading body: %w", method, redactURL(req.URL), err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, resp.Header, newHTTPError(req, resp.StatusCode, body)
	}
	return body, resp.Header, nil
}
