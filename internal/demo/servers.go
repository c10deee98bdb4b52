// Package demo starts the servers of `hoist demo` on 127.0.0.1: an OCI
// registry (go-containerregistry's in-memory registry) and a Git server
// (git's own http-backend behind net/http/cgi). It is demonstration
// plumbing, not product code: it runs the git binary, which hoist itself
// never does.
package demo

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Servers are the demo's registry and Git server.
type Servers struct {
	// Registry is the registry's host:port.
	Registry string
	// GitURL is the base URL of the Git server; repository NAME is at
	// GitURL/NAME.
	GitURL string
	// GitRoot holds the bare repositories.
	GitRoot string

	closers []func()
}

// Start starts both servers; Close stops them.
func Start(dir string) (*Servers, error) {
	s := &Servers{GitRoot: filepath.Join(dir, "git")}
	regLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	regSrv := &http.Server{Handler: ggcrregistry.New(ggcrregistry.Logger(discardLogger())), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = regSrv.Serve(regLn) }()
	s.closers = append(s.closers, func() { _ = regSrv.Close() })
	s.Registry = regLn.Addr().String()

	backend, err := httpBackend()
	if err != nil {
		s.Close()
		return nil, err
	}
	if err := os.MkdirAll(s.GitRoot, 0o755); err != nil {
		s.Close()
		return nil, err
	}
	gitLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Close()
		return nil, err
	}
	h := &cgi.Handler{
		Path: backend,
		Env:  []string{"GIT_PROJECT_ROOT=" + s.GitRoot, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=demo"},
	}
	gitSrv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = gitSrv.Serve(gitLn) }()
	s.closers = append(s.closers, func() { _ = gitSrv.Close() })
	s.GitURL = "http://" + gitLn.Addr().String()
	return s, nil
}

// Close stops the servers.
func (s *Servers) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

func httpBackend() (string, error) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return "", fmt.Errorf("the demo's Git server needs git installed: %w", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("finding git http-backend: %w", err)
	}
	return p, nil
}

// PushImage pushes a small generated image built at created under
// REGISTRY/repo:tag, and returns its digest.
func (s *Servers) PushImage(ctx context.Context, repo, tag string, created time.Time) (string, error) {
	img, err := random.Image(512, 1)
	if err != nil {
		return "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: created}
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return "", err
	}
	ref, err := name.NewTag(s.Registry+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, err := img.Digest()
	return d.String(), err
}

// Git runs git in dir with a fixed identity and no user configuration.
func Git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Demo User", "GIT_AUTHOR_EMAIL=demo@example.com",
		"GIT_COMMITTER_NAME=Demo User", "GIT_COMMITTER_EMAIL=demo@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// CreateRepo makes bare repository name on the Git server with files
// committed on branch main.
func (s *Servers) CreateRepo(name string, files map[string]string) error {
	bare := filepath.Join(s.GitRoot, name)
	if _, err := Git("", "init", "--quiet", "--bare", "--initial-branch=main", bare); err != nil {
		return err
	}
	if _, err := Git(bare, "config", "http.receivepack", "true"); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "hoist-demo-work-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(work) }()
	if _, err := Git(work, "init", "--quiet", "--initial-branch=main"); err != nil {
		return err
	}
	for p, content := range files {
		full := filepath.Join(work, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return err
		}
	}
	for _, args := range [][]string{{"add", "-A"}, {"commit", "--quiet", "-m", "Initial manifests"}, {"push", "--quiet", bare, "main"}} {
		if _, err := Git(work, args...); err != nil {
			return err
		}
	}
	return nil
}

// BareDir is the directory of bare repository name.
func (s *Servers) BareDir(name string) string { return filepath.Join(s.GitRoot, name) }

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
