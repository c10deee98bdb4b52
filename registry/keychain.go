package registry

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// ErrDockerConfig is returned (wrapped) when a Docker config.json or a
// .dockerconfigjson secret cannot be read or parsed.
var ErrDockerConfig = errors.New("invalid docker config")

// DockerConfigKey is the key of a registry secret, as in Kubernetes and Flux.
const DockerConfigKey = ".dockerconfigjson"

// dockerHubAuthKey is the key Docker uses for Docker Hub in config.json and
// with credential helpers.
const dockerHubAuthKey = "https://index.docker.io/v1/"

// DockerConfig holds the parsed credentials of a Docker config.json or a
// .dockerconfigjson secret. It is an authn.Keychain over its "auths"; it
// never runs credential helpers (a secret must not choose a program to run).
// Printing it shows registry names only.
type DockerConfig struct {
	auths       map[string]dockerAuth // by normalized key (host or host/path)
	credHelpers map[string]string     // by registry host
	credsStore  string
}

type dockerAuth struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// ParseDockerConfig parses the JSON of a config.json or .dockerconfigjson.
// Errors never quote the input, which holds secrets.
func ParseDockerConfig(data []byte) (*DockerConfig, error) {
	var raw struct {
		Auths       map[string]dockerAuth `json:"auths"`
		CredHelpers map[string]string     `json:"credHelpers"`
		CredsStore  string                `json:"credsStore"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrDockerConfig, jsonErrorWithoutInput(err))
	}
	c := &DockerConfig{
		auths:       make(map[string]dockerAuth, len(raw.Auths)),
		credHelpers: make(map[string]string, len(raw.CredHelpers)),
		credsStore:  raw.CredsStore,
	}
	for k, a := range raw.Auths {
		if a.Auth != "" {
			dec, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return nil, fmt.Errorf("%w: auths[%q].auth is not base64", ErrDockerConfig, k)
			}
			user, pass, ok := strings.Cut(string(dec), ":")
			if !ok {
				return nil, fmt.Errorf("%w: auths[%q].auth is not user:password", ErrDockerConfig, k)
			}
			a.Username, a.Password = user, pass
			a.Auth = ""
		}
		c.auths[normalizeAuthKey(k)] = a
	}
	for k, h := range raw.CredHelpers {
		if !validHelperName(h) {
			return nil, fmt.Errorf("%w: credHelpers[%q]: invalid helper name %q", ErrDockerConfig, k, h)
		}
		c.credHelpers[normalizeAuthKey(k)] = h
	}
	if c.credsStore != "" && !validHelperName(c.credsStore) {
		return nil, fmt.Errorf("%w: invalid credsStore %q", ErrDockerConfig, c.credsStore)
	}
	return c, nil
}

// jsonErrorWithoutInput describes a JSON error by position, never by value.
func jsonErrorWithoutInput(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("JSON syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be %s, not %s", te.Field, te.Type, te.Value)
	}
	return "not a JSON object"
}

// validHelperName accepts what can follow "docker-credential-" in a file name.
func validHelperName(h string) bool {
	if h == "" || len(h) > 64 {
		return false
	}
	for _, r := range h {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' && r != '_' && r != '.' {
			return false
		}
	}
	return h != "." && h != ".."
}

// normalizeAuthKey turns a config key ("https://index.docker.io/v1/",
// "registry.example.com", "http://host:5000/v2/", "host/ns/repo") into
// host[/path] without scheme or API suffix, lower-casing the host.
func normalizeAuthKey(k string) string {
	k = strings.TrimSpace(k)
	if i := strings.Index(k, "://"); i >= 0 {
		k = k[i+3:]
	}
	host, path, _ := strings.Cut(k, "/")
	host = strings.ToLower(host)
	path = strings.Trim(path, "/")
	if path == "v1" || path == "v2" || path == "" {
		return canonicalHost(host)
	}
	return canonicalHost(host) + "/" + path
}

// canonicalHost maps Docker Hub's many names to the one go-containerregistry
// uses.
func canonicalHost(h string) string {
	switch h {
	case "docker.io", "registry-1.docker.io", "index.docker.io":
		return name.DefaultRegistry
	}
	return h
}

// String lists the registries the config has credentials for.
func (c *DockerConfig) String() string {
	if c == nil {
		return "DockerConfig(nil)"
	}
	keys := make([]string, 0, len(c.auths))
	for k := range c.auths {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return fmt.Sprintf("DockerConfig(auths: %s)", strings.Join(keys, ", "))
}

// GoString is String, so that %#v prints no secret.
func (c *DockerConfig) GoString() string { return c.String() }

// Resolve implements authn.Keychain over the config's auths: the longest key
// that is the repository or a path prefix of it, else the registry host.
func (c *DockerConfig) Resolve(target authn.Resource) (authn.Authenticator, error) {
	if c == nil {
		return authn.Anonymous, nil
	}
	if a, ok := c.lookup(target); ok {
		return a.authenticator(), nil
	}
	return authn.Anonymous, nil
}

func (c *DockerConfig) lookup(target authn.Resource) (dockerAuth, bool) {
	host := canonicalHost(strings.ToLower(target.RegistryStr()))
	full := target.String()
	if _, path, ok := strings.Cut(full, "/"); ok && path != "" {
		// Repository keys, longest first (podman's auth.json allows them).
		for p := path; p != ""; {
			if a, ok := c.auths[host+"/"+p]; ok {
				return a, true
			}
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				break
			}
			p = p[:i]
		}
	}
	a, ok := c.auths[host]
	return a, ok
}

func (a dockerAuth) authenticator() authn.Authenticator {
	switch {
	case a.RegistryToken != "":
		return authn.FromConfig(authn.AuthConfig{RegistryToken: a.RegistryToken})
	case a.IdentityToken != "":
		return authn.FromConfig(authn.AuthConfig{Username: a.Username, IdentityToken: a.IdentityToken})
	case a.Username != "" || a.Password != "":
		return authn.FromConfig(authn.AuthConfig{Username: a.Username, Password: a.Password})
	}
	return authn.Anonymous
}

// ReadDockerConfigSecret reads the registry secret NAME from a secrets
// directory laid out as Kubernetes mounts Secrets: DIR/NAME/.dockerconfigjson
// (see docs/state-and-secrets.md). Its error names the file, never its content.
func ReadDockerConfigSecret(dir, secret string) (*DockerConfig, error) {
	if secret == "" || secret == "." || secret == ".." || strings.ContainsAny(secret, `/\`) {
		return nil, fmt.Errorf("reading registry secret %q: %w: not a secret name", secret, ErrDockerConfig)
	}
	path := filepath.Join(dir, secret, DockerConfigKey)
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading registry secret %q: %s does not exist: %w", secret, path, err)
		}
		return nil, fmt.Errorf("reading registry secret %q: %w", secret, err)
	}
	c, err := ParseDockerConfig(data)
	if err != nil {
		return nil, fmt.Errorf("reading registry secret %q from %s: %w", secret, path, err)
	}
	return c, nil
}

// dockerKeychain resolves credentials as docker does from its files in
// order (Docker's DIR/config.json, then the containers tools' auth.json):
// a credHelpers entry for the host, else credsStore, running the helper
// program docker-credential-NAME found on PATH; then auths; else the next
// file; else anonymous. Answers are kept for credentialTTL so that a scan
// of many tags runs each helper once per registry.
type dockerKeychain struct {
	files []string
	clock Clock

	mu     sync.Mutex
	cached map[string]cachedAuth
	// read holds each file as last read, looked at again fileRecheck
	// after (see config).
	read map[string]*readFile
}

// readFile is a credential file as last read: missing, or its config with
// the modification time and size it had then.
type readFile struct {
	checked time.Time
	exists  bool
	mod     time.Time
	size    int64
	cfg     *DockerConfig
	// settled: the file was read over a second after it was last
	// modified, so a change since would show in its modification time
	// (file times are the wall clock's, coarse; a file read as it was
	// written is read again at the next look, as git's index does).
	settled bool
}

// fileRecheck is how long a credential file's last reading stands before
// the file is looked at again (a stat, and a read when it changed). A
// target's answer is kept credentialTTL anyway; without it, the files
// (three paths, most often missing) were opened at each scan whose answer
// had expired: about every other rescan at 5-minute intervals.
const fileRecheck = 30 * time.Second

type cachedAuth struct {
	auth authn.Authenticator
	at   time.Time
}

// credentialTTL is how long a resolved Docker credential is reused.
const credentialTTL = 5 * time.Minute

// helperTimeout bounds one run of a credential helper.
const helperTimeout = 30 * time.Second

// NewDockerKeychain returns the keychain of Docker's config.json in dir
// (auths, credHelpers, credsStore; helpers are run as docker runs them), or
// anonymous access when the file does not exist.
func NewDockerKeychain(dir string) authn.Keychain {
	return newDockerKeychain([]string{filepath.Join(dir, "config.json")}, SystemClock{})
}

// userAuthFiles lists the credential files of the user: Docker's first,
// then the containers tools'.
func userAuthFiles(dockerDir string, getenv func(string) string, home string) []string {
	var files []string
	if dockerDir != "" {
		files = append(files, filepath.Join(dockerDir, "config.json"))
	}
	return append(files, containersAuthFiles(getenv, home)...)
}

// containersAuthFiles lists where podman, skopeo and buildah keep
// credentials, in their order: $REGISTRY_AUTH_FILE, then
// $XDG_RUNTIME_DIR/containers/auth.json, then
// ~/.config/containers/auth.json (home is the user's home directory; ""
// leaves it out).
func containersAuthFiles(getenv func(string) string, home string) []string {
	var files []string
	if f := getenv("REGISTRY_AUTH_FILE"); f != "" {
		files = append(files, f)
	}
	if d := getenv("XDG_RUNTIME_DIR"); d != "" {
		files = append(files, filepath.Join(d, "containers", "auth.json"))
	}
	if home != "" {
		files = append(files, filepath.Join(home, ".config", "containers", "auth.json"))
	}
	return files
}

func newDockerKeychain(files []string, clock Clock) *dockerKeychain {
	return &dockerKeychain{files: files, clock: clock, cached: make(map[string]cachedAuth), read: make(map[string]*readFile)}
}

// config returns the config of the credential file path, nil when it does
// not exist: as last read while that is less than fileRecheck ago or the
// file's modification time and size are unchanged, else read again. A
// file that cannot be read or parsed is an error, each time.
func (k *dockerKeychain) config(path string) (*DockerConfig, error) {
	now := k.clock.Now()
	k.mu.Lock()
	last := k.read[path]
	k.mu.Unlock()
	if last != nil && now.Sub(last.checked) >= 0 && now.Sub(last.checked) < fileRecheck {
		return last.cfg, nil
	}
	cur := &readFile{checked: now}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("reading registry credentials: %w", err)
	case last != nil && last.exists && last.settled && fi.ModTime().Equal(last.mod) && fi.Size() == last.size:
		cur.exists, cur.mod, cur.size, cur.cfg, cur.settled = true, last.mod, last.size, last.cfg, true
	default:
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			break // gone since the stat
		}
		if err != nil {
			return nil, fmt.Errorf("reading registry credentials: %w", err)
		}
		cfg, err := ParseDockerConfig(data)
		if err != nil {
			return nil, fmt.Errorf("reading registry credentials %s: %w", path, err)
		}
		cur.exists, cur.mod, cur.size, cur.cfg = true, fi.ModTime(), fi.Size(), cfg
		cur.settled = time.Since(fi.ModTime()) > time.Second // the file's clock: the wall clock
	}
	k.mu.Lock()
	k.read[path] = cur
	k.mu.Unlock()
	return cur.cfg, nil
}

// Resolve implements authn.Keychain.
func (k *dockerKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), target)
}

// ResolveContext implements authn.ContextKeychain.
func (k *dockerKeychain) ResolveContext(ctx context.Context, target authn.Resource) (authn.Authenticator, error) {
	key := target.String()
	now := k.clock.Now()
	k.mu.Lock()
	c, ok := k.cached[key]
	k.mu.Unlock()
	if ok && now.Sub(c.at) < credentialTTL {
		return c.auth, nil
	}
	auth, err := k.resolve(ctx, target)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.cached[key] = cachedAuth{auth: auth, at: now}
	k.mu.Unlock()
	return auth, nil
}

func (k *dockerKeychain) resolve(ctx context.Context, target authn.Resource) (authn.Authenticator, error) {
	for _, path := range k.files {
		cfg, err := k.config(path)
		if err != nil {
			return nil, err
		}
		if cfg == nil {
			continue
		}
		a, err := resolveConfig(ctx, path, cfg, target)
		if err != nil {
			return nil, err
		}
		if a != authn.Anonymous {
			return a, nil
		}
	}
	return authn.Anonymous, nil
}

// resolveConfig resolves target from cfg, the config.json or auth.json at
// path.
func resolveConfig(ctx context.Context, path string, cfg *DockerConfig, target authn.Resource) (authn.Authenticator, error) {
	host := canonicalHost(strings.ToLower(target.RegistryStr()))
	helper, ok := cfg.credHelpers[host]
	if !ok {
		helper = cfg.credsStore
	}
	if helper != "" {
		serverURL := host
		if host == name.DefaultRegistry {
			serverURL = dockerHubAuthKey
		}
		a, found, err := runCredentialHelper(ctx, helper, serverURL)
		if err != nil {
			return nil, fmt.Errorf("registry credentials %s: %w", path, err)
		}
		if found {
			return a.authenticator(), nil
		}
	}
	return cfg.Resolve(target)
}

// runCredentialHelper runs "docker-credential-HELPER get" with the server URL
// on stdin, per Docker's credential helper protocol. A helper that answers
// "credentials not found" means no credential, not an error. Errors never
// carry the helper's output.
func runCredentialHelper(ctx context.Context, helper, serverURL string) (dockerAuth, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, helperTimeout)
	defer cancel()
	prog := "docker-credential-" + helper
	cmd := exec.CommandContext(ctx, prog, "get")
	cmd.Stdin = strings.NewReader(serverURL)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = nil
	if err := cmd.Run(); err != nil {
		if strings.Contains(strings.ToLower(stdout.String()), "credentials not found") {
			return dockerAuth{}, false, nil
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return dockerAuth{}, false, fmt.Errorf("credential helper %s for %s failed with exit status %d", prog, serverURL, ee.ExitCode())
		}
		return dockerAuth{}, false, fmt.Errorf("credential helper %s for %s: %w", prog, serverURL, err)
	}
	out, err := parseHelperOutput(stdout.Bytes())
	if err != nil {
		return dockerAuth{}, false, fmt.Errorf("credential helper %s for %s: %w", prog, serverURL, err)
	}
	return out, true, nil
}

// parseHelperOutput reads a credential helper's answer:
// {"ServerURL":..., "Username":..., "Secret":...}. A Username of "<token>"
// means Secret is an identity token.
func parseHelperOutput(b []byte) (dockerAuth, error) {
	var out struct {
		Username string `json:"Username"`
		Secret   string `json:"Secret"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return dockerAuth{}, fmt.Errorf("%w: helper answer: %s", ErrDockerConfig, jsonErrorWithoutInput(err))
	}
	if out.Username == "<token>" {
		return dockerAuth{IdentityToken: out.Secret}, nil
	}
	return dockerAuth{Username: out.Username, Password: out.Secret}, nil
}
