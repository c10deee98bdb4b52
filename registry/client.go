package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
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
	// pages holds, per repository listed in one page, the hash of that
	// page's body (bodyHash) and the Sum of its tags (see Repo.KnownSum).
	pages map[string]pageSum
	seed  maphash.Seed
	// sha256Pages hashes bodies with SHA-256 as before (benchmarks).
	sha256Pages bool

	// refs holds the repositories parsed so far, by image and Insecure
	// (a name.Repository; see parseRepo): one per repository asked for.
	refs sync.Map

	// verified holds the digests verified in this process, by key ID and
	// digest (see Verify); the registry cache keeps them across processes.
	verified sync.Map

	// copyPages copies each tag list page out of its buffer before
	// looking at it (benchmarks compare).
	copyPages bool
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
	body uint64
	tags [32]byte
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
		seed:     maphash.MakeSeed(),
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

// readBuffers hold response bodies: those attemptTransport reads, lent
// to the caller until the body is closed (pooledBody), and those read
// otherwise while a caller looks at them (lendBody). A rescan whose tag
// list did not change then allocates nothing for its body: it is summed
// in the buffer and dropped.
var readBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer is the largest buffer kept for reuse: a rare large body
// (a manifest list, a list of many tags) does not stay in the pool.
const maxPooledBuffer = 1 << 20

func getBuffer() *bytes.Buffer {
	buf := readBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	return buf
}

func putBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBuffer {
		readBuffers.Put(buf)
	}
}

// readInto reads at most maxBody+1 bytes of resp's body into buf, growing
// it once to the announced length when there is one.
func readInto(buf *bytes.Buffer, resp *http.Response) error {
	if n := resp.ContentLength; n > 0 && n <= maxBody {
		buf.Grow(int(n) + 1) // +1: room to see the end
	}
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, maxBody+1))
	return err
}

// pooledBody is a response body that attemptTransport read in full (so
// that the attempt's timeout covers it) into a buffer of readBuffers.
// Close gives the buffer back: its bytes must not be used after.
type pooledBody struct {
	*bytes.Reader
	buf    *bytes.Buffer
	closed atomic.Bool
}

func newPooledBody(buf *bytes.Buffer) *pooledBody {
	return &pooledBody{Reader: bytes.NewReader(buf.Bytes()), buf: buf}
}

// Close gives the buffer back, once (wrappers may close a body twice).
func (b *pooledBody) Close() error {
	if b.closed.CompareAndSwap(false, true) {
		b.Reset(nil)
		putBuffer(b.buf)
	}
	return nil
}

// unread returns the body's bytes when none was read yet, valid until
// Close.
func (b *pooledBody) unread() ([]byte, bool) {
	if b.closed.Load() || b.Len() != b.buf.Len() {
		return nil, false
	}
	return b.buf.Bytes(), true
}

// lendBody reads at most maxBody+1 bytes of resp's body and returns them,
// valid until release is called (and resp's body closed): a body that
// attemptTransport read already is taken as it is.
func lendBody(resp *http.Response) (body []byte, release func(), err error) {
	if b, ok := resp.Body.(*pooledBody); ok {
		if data, ok := b.unread(); ok {
			return data, func() {}, nil
		}
	}
	buf := getBuffer()
	if err := readInto(buf, resp); err != nil {
		putBuffer(buf)
		return nil, nil, err
	}
	return buf.Bytes(), func() { putBuffer(buf) }, nil
}

// do sends one request and reads the answer, returning its body and header;
// a status other than 200 is an *HTTPError.
func (cn *conn) do(ctx context.Context, method, rawURL string, accept []string) ([]byte, http.Header, error) {
	var out []byte
	header, err := cn.doFunc(ctx, method, rawURL, accept, func(body []byte, _ http.Header) {
		out = bytes.Clone(body)
	})
	if err != nil {
		return nil, header, err
	}
	return out, header, nil
}

// doCopy is doFunc that hands fn a copy of the body, as do returns
// (benchmarks compare).
func (cn *conn) doCopy(ctx context.Context, method, rawURL string, accept []string, fn func(body []byte, header http.Header)) (http.Header, error) {
	body, header, err := cn.do(ctx, method, rawURL, accept)
	if err == nil {
		fn(body, header)
	}
	return header, err
}

// doFunc is do that hands the body and header of a 200 answer to fn
// instead of returning a copy: the body is valid only until fn returns.
func (cn *conn) doFunc(ctx context.Context, method, rawURL string, accept []string, fn func(body []byte, header http.Header)) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", cleanError(err))
	}
	if len(accept) > 0 {
		req.Header.Set("Accept", strings.Join(accept, ", "))
	}
	resp, err := cn.client.Do(req)
	if err != nil {
		return nil, classify(cleanError(err))
	}
	defer func() { _ = resp.Body.Close() }()
	body, release, err := lendBody(resp)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading body: %w", method, redactURL(req.URL), err)
	}
	defer release()
	if resp.StatusCode != http.StatusOK {
		return resp.Header, newHTTPError(req, resp.StatusCode, body)
	}
	fn(body, resp.Header)
	return resp.Header, nil
}
