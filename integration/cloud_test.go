package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// loopbackProxy is an HTTP proxy on 127.0.0.1 that sends every request to
// 127.0.0.1 on the port asked for, so that the hoist binary reaches a test
// registry under a cloud registry's name (HTTP_PROXY; Go never proxies
// requests to localhost and 127.0.0.1, so the fakes are reached directly).
func loopbackProxy(t *testing.T) string {
	t.Helper()
	p := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		_, port, err := net.SplitHostPort(r.In.URL.Host)
		if err != nil {
			port = "80"
		}
		r.Out.URL.Scheme = "http"
		r.Out.URL.Host = net.JoinHostPort("127.0.0.1", port)
		r.Out.Host = r.In.Host
	}}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestScanECRWithWebIdentity runs `hoist scan` on an ImageRepository with
// provider aws, as in an EKS pod with IRSA: the web identity token is
// exchanged at (fake) STS, the role's keys sign (fake) ECR's
// GetAuthorizationToken, and the registry's token service accepts the
// password ECR issued.
func TestScanECRWithWebIdentity(t *testing.T) {
	aws := testenv.NewFakeAWS(t, time.Now)
	const user, pw = "pusher", "pusher-password"
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{
		Auth: testenv.AuthToken, Username: user, Password: pw,
		Accept: func(u, p string) bool { return (u == user && p == pw) || aws.Accept(u, p) },
	})
	reg.PushImage(t, "team/app", "1.0.0", testenv.ImageOptions{})
	reg.PushImage(t, "team/app", "1.2.0", testenv.ImageOptions{})
	_, port, _ := net.SplitHostPort(reg.Host)
	image := "123456789012.dkr.ecr.eu-west-1.amazonaws.com:" + port + "/team/app"

	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	writeFile(t, tokenFile, aws.WebIdentityToken)
	cfg := filepath.Join(dir, "hoist.yaml")
	writeFile(t, cfg, fmt.Sprintf(`apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: app, namespace: apps}
spec: {image: %s, provider: aws, insecure: true}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app, namespace: apps}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: '>=1'}}
`, image))
	env := []string{
		"HTTP_PROXY=" + loopbackProxy(t),
		"AWS_ENDPOINT_URL_ECR=" + aws.URL, "AWS_ENDPOINT_URL_STS=" + aws.URL,
		"AWS_ROLE_ARN=" + aws.RoleARN, "AWS_WEB_IDENTITY_TOKEN_FILE=" + tokenFile,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	r := hoist(t, env, "scan", "-c", cfg, "-o", "json")
	if r.code != 0 {
		t.Fatalf("hoist scan: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	var out struct {
		Policies []struct{ Tag, Error string } `json:"policies"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("scan output: %v\n%s", err, r.stdout)
	}
	if len(out.Policies) != 1 || out.Policies[0].Tag != "1.2.0" {
		t.Errorf("scan = %+v, want tag 1.2.0", out.Policies)
	}
	for _, tok := range append(aws.ECR.Issued(), aws.STS.Issued()...) {
		if strings.Contains(r.stdout+r.stderr, tok) {
			t.Errorf("a token the cloud issued is in hoist's output:\n%s", r.stderr)
		}
	}

	// Another role: the scan fails with STS's answer.
	env[3] = "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/other"
	r = hoist(t, env, "scan", "-c", cfg, "-o", "json")
	if r.code != 1 || !strings.Contains(r.stdout, "AccessDenied") {
		t.Errorf("scan with another role: exit %d, stdout %s, want exit 1 and STS's AccessDenied", r.code, r.stdout)
	}
}

// TestRunOnceGitHubApp runs an automation whose GitRepository has provider
// github: hoist mints an installation token at the (fake) GitHub API and
// pushes with it to git http-backend, which accepts only such tokens.
func TestRunOnceGitHubApp(t *testing.T) {
	gh := testenv.NewFakeGitHubApp(t, time.Now).NewServer(t)
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	reg.PushImage(t, "apps/api", "2.0.0", testenv.ImageOptions{})
	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{Accept: gh.Accept})
	bare := gitSrv.RepoDir("fleet.git")
	testenv.GitInitBare(t, bare, "main")
	testenv.GitCommitFiles(t, bare, "main", "initial", map[string]string{
		"api.yaml": fmt.Sprintf("image: %s/apps/api:1.0.0 # {\"$imagepolicy\": \"apps:api\"}\n", reg.Host),
	})
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets")
	for k, v := range map[string]string{
		"githubAppID": gh.AppID, "githubAppInstallationID": gh.InstallationID,
		"githubAppPrivateKey": string(gh.PrivateKeyPEM()), "githubAppBaseURL": gh.URL,
	} {
		writeFile(t, filepath.Join(secrets, "github-app", k), v)
	}
	if err := os.Chmod(filepath.Join(secrets, "github-app", "githubAppPrivateKey"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "hoist.yaml")
	writeFile(t, cfg, fmt.Sprintf(`apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: api, namespace: apps}
spec: {image: %s/apps/api}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: api, namespace: apps}
spec:
  imageRepositoryRef: {name: api}
  policy: {semver: {range: '>=1'}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: apps}
spec:
  url: %s
  provider: github
  secretRef: {name: github-app}
  ref: {branch: main}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: api, namespace: apps}
spec:
  sourceRef: {kind: GitRepository, name: fleet}
  git:
    commit: {author: {name: hoist, email: hoist@example.com}}
`, reg.Host, gitSrv.RepoURL("fleet.git")))
	r := hoist(t, nil, "run", "--once", "-c", cfg, "--secrets-dir", secrets, "--log-level", "debug")
	if r.code != 0 {
		t.Fatalf("hoist run --once: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if got := testenv.GitCLI(t, bare, "show", "main:api.yaml"); !strings.Contains(got, "apps/api:2.0.0") {
		t.Errorf("pushed api.yaml = %q, want apps/api:2.0.0", got)
	}
	if n := gh.Tokens.Calls(); n != 1 {
		t.Errorf("installation token requests = %d, want 1", n)
	}
	for _, tok := range gh.Tokens.Issued() {
		if strings.Contains(r.stdout+r.stderr, tok) {
			t.Errorf("the installation token is in hoist's output:\n%s", r.stderr)
		}
	}
}
