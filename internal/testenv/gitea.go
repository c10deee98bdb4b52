package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Gitea is a Gitea server started for a test on 127.0.0.1, with an admin
// user and an API token.
type Gitea struct {
	// URL is the server's root URL with a trailing slash.
	URL string
	// AdminUser and AdminPassword are the admin's credentials.
	AdminUser     string
	AdminPassword string
	// Token is an API token of the admin with all scopes.
	Token string
}

// GiteaBinary is where build-gitea.sh puts the Gitea binary:
// $HOIST_TEST_CACHE/gitea/gitea, by default under $HOME/.cache/hoist-test.
func GiteaBinary() string {
	return filepath.Join(giteaCacheDir(), "gitea", "gitea")
}

func giteaCacheDir() string {
	if d := os.Getenv("HOIST_TEST_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "hoist-test")
}

// StartGitea starts Gitea in a temporary work directory and stops it when
// the test ends. It skips the test when the binary built by
// internal/testenv/build-gitea.sh is missing, except when the environment
// variable CI is "true", where it fails the test. Starting takes a few
// seconds.
func StartGitea(t testing.TB) *Gitea {
	t.Helper()
	bin := GiteaBinary()
	assets := filepath.Join(filepath.Dir(bin), "assets")
	if _, err := os.Stat(bin); err != nil {
		msg := fmt.Sprintf("Gitea binary %s not found; run internal/testenv/build-gitea.sh", bin)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("Gitea needs git: %v", err)
	}
	work := t.TempDir()
	port := giteaFreePort(t)
	g := &Gitea{
		URL:           fmt.Sprintf("http://127.0.0.1:%d/", port),
		AdminUser:     "hoist-admin",
		AdminPassword: "hoist-" + giteaRandomHex(t, 8),
	}
	runUser := "root"
	if u, err := user.Current(); err == nil {
		runUser = u.Username
	}
	conf := filepath.Join(work, "custom", "conf", "app.ini")
	ini := fmt.Sprintf(`APP_NAME = hoist test
RUN_USER = %[1]s
RUN_MODE = prod
WORK_PATH = %[2]s
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[3]d
ROOT_URL = %[4]s
LOCAL_ROOT_URL = %[4]s
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false
STATIC_ROOT_PATH = %[5]s
APP_DATA_PATH = %[2]s/data

[database]
DB_TYPE = sqlite3
PATH = %[2]s/data/gitea.db
SQLITE_JOURNAL_MODE = WAL

[repository]
ROOT = %[2]s/repos
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = %[6]s
PASSWORD_HASH_ALGO = pbkdf2_hi

[oauth2]
ENABLED = false

[service]
DISABLE_REGISTRATION = true
ENABLE_NOTIFY_MAIL = false

[mailer]
ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[queue]
TYPE = channel

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[actions]
ENABLED = false

[cron]
ENABLED = false

[cron.update_checker]
ENABLED = false

[log]
MODE = console
LEVEL = warn
ROOT_PATH = %[2]s/log
`, runUser, work, port, g.URL, assets, giteaRandomHex(t, 16))
	if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "GITEA_WORK_DIR="+work, "HOME="+work, "GIT_CONFIG_NOSYSTEM=1")
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--config", conf, "--work-path", work)...)
		cmd.Env = env
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gitea %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("migrate")
	run("admin", "user", "create", "--admin", "--username", g.AdminUser, "--password", g.AdminPassword,
		"--email", "admin@example.com", "--must-change-password=false")

	ctx, cancel := context.WithCancel(context.Background())
	var logs giteaLogBuffer
	cmd := exec.CommandContext(ctx, bin, "web", "--config", conf, "--work-path", work)
	cmd.Env = env
	cmd.Dir = work
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting gitea web: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("gitea log:\n%s", logs.String())
		}
	})
	if err := g.waitReady(60 * time.Second); err != nil {
		t.Fatalf("gitea did not start: %v\n%s", err, logs.String())
	}
	var tok struct {
		SHA1 string `json:"sha1"`
	}
	g.apiAsAdmin(t, http.MethodPost, "users/"+g.AdminUser+"/tokens",
		map[string]any{"name": "hoist-test", "scopes": []string{"all"}}, &tok)
	if tok.SHA1 == "" {
		t.Fatal("gitea returned no token")
	}
	g.Token = tok.SHA1
	return g
}

// CreateRepo creates repository name of the admin with a first commit (a
// README) on branch main, and returns its HTTP clone URL.
func (g *Gitea) CreateRepo(t testing.TB, name string) string {
	t.Helper()
	var repo struct {
		CloneURL string `json:"clone_url"`
	}
	g.apiAsAdmin(t, http.MethodPost, "user/repos", map[string]any{
		"name": name, "auto_init": true, "default_branch": "main", "readme": "Default",
	}, &repo)
	if repo.CloneURL == "" {
		t.Fatal("gitea returned no clone URL")
	}
	return repo.CloneURL
}

// API calls the Gitea API with the admin's token and decodes the JSON
// answer into out (which may be nil); it fails the test on an error status.
func (g *Gitea) API(t testing.TB, method, path string, body, out any) {
	t.Helper()
	g.call(t, method, path, body, out, func(r *http.Request) { r.Header.Set("Authorization", "token "+g.Token) })
}

func (g *Gitea) apiAsAdmin(t testing.TB, method, path string, body, out any) {
	t.Helper()
	g.call(t, method, path, body, out, func(r *http.Request) { r.SetBasicAuth(g.AdminUser, g.AdminPassword) })
}

func (g *Gitea) call(t testing.TB, method, path string, body, out any, auth func(*http.Request)) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, g.URL+"api/v1/"+strings.TrimPrefix(path, "/"), rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	auth(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("gitea %s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("gitea %s %s: %s\n%s", method, path, resp.Status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("gitea %s %s: decoding %s: %v", method, path, data, err)
		}
	}
}

func (g *Gitea) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		resp, err := http.Get(g.URL + "api/v1/version")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /api/v1/version: %s", resp.Status)
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return last
}

func giteaFreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port
}

func giteaRandomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// giteaLogBuffer is a bytes.Buffer safe for concurrent writers.
type giteaLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *giteaLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *giteaLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
