package testenv

import (
	"bytes"
	"crypto/subtle"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// GitServerOptions configures NewGitServer.
type GitServerOptions struct {
	// Username and Password, when Username is set, are required as HTTP
	// basic auth on every request. Default: no authentication.
	Username string
	Password string
	// Accept, when set, decides which basic credentials are accepted
	// instead of Username and Password (a fake GitHub App passes the
	// installation tokens it issued). Default: Username and Password.
	Accept func(user, password string) bool
	// TLS serves HTTPS with a certificate for 127.0.0.1 signed by a test CA
	// (httptest's self-signed certificate, see GitServer.CACert). Default:
	// plain HTTP.
	TLS bool
}

// GitServer is git's smart HTTP server, `git http-backend` run through
// net/http/cgi, listening on 127.0.0.1. Receive-pack (push) is enabled.
// Bare repositories live under Root; repository NAME is served at
// URL + "/" + NAME.
type GitServer struct {
	// URL is the server's base URL without a trailing slash.
	URL string
	// Root is the directory holding the bare repositories.
	Root string
	// Username and Password are the basic-auth credentials, if any.
	Username string
	Password string
	// CACert is the PEM of the server's self-signed certificate, to trust it
	// as a CA, when the server uses TLS; else nil.
	CACert []byte

	backend  string
	accept   func(user, password string) bool
	requests atomic.Int64
	bytesIn  atomic.Int64
	bytesOut atomic.Int64

	mu   sync.Mutex
	wrap func(http.Handler) http.Handler
}

// GitTraffic counts what went through a GitServer's HTTP handler.
type GitTraffic struct {
	Requests int64
	// BytesIn counts request bodies (what clients sent, such as push packs).
	BytesIn int64
	// BytesOut counts response bodies (what clients received, such as
	// fetch packs).
	BytesOut int64
}

// NewGitServer starts a Git smart HTTP server on 127.0.0.1 and stops it when
// the test ends. It fails the test when git http-backend cannot be found.
func NewGitServer(t testing.TB, opts GitServerOptions) *GitServer {
	t.Helper()
	s := &GitServer{
		Root:     t.TempDir(),
		Username: opts.Username,
		Password: opts.Password,
		accept:   opts.Accept,
		backend:  gitHTTPBackend(t),
	}
	var srv *httptest.Server
	if opts.TLS {
		srv = httptest.NewUnstartedServer(s)
		srv.StartTLS()
		s.CACert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	} else {
		srv = httptest.NewServer(s)
	}
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// gitHTTPBackend finds git-http-backend in git's exec path.
func gitHTTPBackend(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("finding git's exec path (is git installed?): %v", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("finding git http-backend: %v", err)
	}
	return p
}

// SetMiddleware installs wrap around the server's handler (after basic
// auth), for fault injection; nil removes it. Safe to call while the server
// is serving.
func (s *GitServer) SetMiddleware(wrap func(http.Handler) http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wrap = wrap
}

// Traffic returns the counters since the server started or since the last
// ResetTraffic.
func (s *GitServer) Traffic() GitTraffic {
	return GitTraffic{Requests: s.requests.Load(), BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load()}
}

// ResetTraffic sets the traffic counters to zero.
func (s *GitServer) ResetTraffic() {
	s.requests.Store(0)
	s.bytesIn.Store(0)
	s.bytesOut.Store(0)
}

// RepoURL is the clone URL of repository name, without credentials.
func (s *GitServer) RepoURL(name string) string { return s.URL + "/" + name }

// RepoDir is the directory of bare repository name.
func (s *GitServer) RepoDir(name string) string {
	return filepath.Join(s.Root, filepath.FromSlash(name))
}

// CreateRepo creates an empty bare repository name (for example
// "fleet.git") whose HEAD names branch, with pushes enabled, and returns its
// URL.
func (s *GitServer) CreateRepo(t testing.TB, name, branch string) string {
	t.Helper()
	GitInitBare(t, s.RepoDir(name), branch)
	return s.RepoURL(name)
}

// ServeHTTP implements http.Handler.
func (s *GitServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if s.accept != nil {
		if u, p, ok := r.BasicAuth(); !ok || !s.accept(u, p) {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
	} else if s.Username != "" {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(s.Username)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(s.Password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
	}
	r.Body = &gitCountingReader{r: r.Body, n: &s.bytesIn}
	cw := &gitCountingWriter{ResponseWriter: w, n: &s.bytesOut}

	var h http.Handler = http.HandlerFunc(s.serveBackend)
	s.mu.Lock()
	if s.wrap != nil {
		h = s.wrap(h)
	}
	s.mu.Unlock()
	h.ServeHTTP(cw, r)
}

func (s *GitServer) serveBackend(w http.ResponseWriter, r *http.Request) {
	// Read the whole request first: git http-backend (2.39) spins forever
	// on a request body that ends before its Content-Length, which is what
	// a client cut off in the middle of a push sends. A real server would
	// drop such a request too.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading request: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", fmt.Sprint(len(body)))
	r.Header.Del("Transfer-Encoding")

	user := s.Username
	if user == "" {
		user = "anonymous"
	}
	h := &cgi.Handler{
		Path: s.backend,
		Root: "/",
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.Root,
			"GIT_HTTP_EXPORT_ALL=1",
			"REMOTE_USER=" + user,
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + s.Root,
		},
		InheritEnv: []string{"PATH"},
		Stderr:     io.Discard,
	}
	h.ServeHTTP(w, r)
}

type gitCountingReader struct {
	r io.ReadCloser
	n *atomic.Int64
}

func (c *gitCountingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *gitCountingReader) Close() error { return c.r.Close() }

type gitCountingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *gitCountingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *gitCountingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *gitCountingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// GitDropResponse is a GitServer middleware (see SetMiddleware) that serves
// requests matching match completely, then closes the connection without
// sending the response: the server did the work, the client never hears of
// it. It stands for a network that fails at the worst moment.
func GitDropResponse(match func(*http.Request) bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !match(r) {
				next.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(httptest.NewRecorder(), r)
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(fmt.Sprintf("GitDropResponse: %v", err))
			}
			_ = conn.Close()
		})
	}
}

// IsGitPush matches the requests of a push's pack upload.
func IsGitPush(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack")
}

// GitEnv is the environment the Git helpers run git with: no system or
// global configuration, a fixed identity and dates, so that tests do not
// depend on the machine.
func GitEnv(home string) []string {
	env := []string{
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"HOME=" + home,
		"GIT_AUTHOR_NAME=Test Writer",
		"GIT_AUTHOR_EMAIL=writer@example.com",
		"GIT_COMMITTER_NAME=Test Writer",
		"GIT_COMMITTER_EMAIL=writer@example.com",
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
	}
	if p, ok := os.LookupEnv("PATH"); ok {
		env = append(env, "PATH="+p)
	}
	return env
}

// GitCLI runs git with args in dir (which may be "") and returns its
// standard output; it fails the test when git fails. Tests use it to set up
// and inspect repositories; product code uses go-git.
func GitCLI(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := GitCLIResult(dir, nil, args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

// GitCLIResult runs git like GitCLI with stdin (which may be nil) and
// returns the error instead of failing a test.
func GitCLIResult(dir string, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	home := dir
	if home == "" {
		home = os.TempDir()
	}
	cmd.Env = GitEnv(home)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("git %s (in %s): %w\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return stdout.String(), nil
}

// GitInitBare creates a bare repository in dir whose HEAD names branch and
// which accepts pushes over HTTP.
func GitInitBare(t testing.TB, dir, branch string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	GitCLI(t, dir, "init", "--quiet", "--bare", "--initial-branch="+branch)
	GitCLI(t, dir, "config", "http.receivepack", "true")
	// Allow fetching any commit, as go-git's shallow fetches may ask for one.
	GitCLI(t, dir, "config", "uploadpack.allowAnySHA1InWant", "true")
}

// GitCommitFiles commits files (slash path -> content; the content
// "!delete" removes the file, and "!symlink TARGET" commits a symbolic link
// to TARGET) on top of branch in the bare repository bareDir, creating the branch when it does not exist, and
// returns the new commit's SHA. It stands in for another writer pushing to
// the repository; hooks do not run.
func GitCommitFiles(t testing.TB, bareDir, branch, message string, files map[string]string) string {
	t.Helper()
	work := t.TempDir()
	GitCLI(t, work, "init", "--quiet", "--initial-branch="+branch)
	if out, err := GitCLIResult(bareDir, nil, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch); err == nil {
		GitCLI(t, work, "fetch", "--quiet", bareDir, "refs/heads/"+branch)
		GitCLI(t, work, "reset", "--quiet", "--hard", strings.TrimSpace(out))
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := filepath.Join(work, filepath.FromSlash(name))
		if files[name] == "!delete" {
			GitCLI(t, work, "rm", "--quiet", name)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(files[name], "!symlink "); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
		} else if err := os.WriteFile(p, []byte(files[name]), 0o644); err != nil {
			t.Fatal(err)
		}
		GitCLI(t, work, "add", name)
	}
	GitCLI(t, work, "commit", "--quiet", "--allow-empty", "-m", message)
	GitCLI(t, work, "push", "--quiet", "--no-verify", bareDir, "HEAD:refs/heads/"+branch)
	return strings.TrimSpace(GitCLI(t, work, "rev-parse", "HEAD"))
}

// GitHead returns the commit SHA of branch in the repository at dir, or ""
// when the branch does not exist.
func GitHead(t testing.TB, dir, branch string) string {
	t.Helper()
	out, err := GitCLIResult(dir, nil, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// GitSetHook installs an executable hook (for example "pre-receive") with
// the given shell script body in the bare repository at dir.
func GitSetHook(t testing.TB, dir, hook, script string) {
	t.Helper()
	p := filepath.Join(dir, "hooks", hook)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}
