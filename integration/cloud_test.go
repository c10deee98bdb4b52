package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/controller"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

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
		"HTTP_PROXY=" + testenv.LoopbackProxy(t),
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

// TestControllerServiceAccountECR runs `hoist controller` with an
// ImageRepository whose serviceAccountName names a ServiceAccount annotated
// with an IAM role, as in EKS with IRSA: the controller asks the API server
// for a token of that ServiceAccount (TokenRequest, audience
// sts.amazonaws.com), exchanges it at (fake) STS, which trusts it through
// the API server's TokenReview, signs (fake) ECR's GetAuthorizationToken
// with the role's keys, and the registry's token service accepts the
// password ECR issued. A ServiceAccount the role does not trust is
// Ready=False with STS's answer. No token the clouds issued is logged.
func TestControllerServiceAccountECR(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end controller test")
	}
	kube := testenv.StartKube(t, controller.NewScheme(), filepath.Join("..", "config", "crd"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := kube.Client

	aws := testenv.NewFakeAWS(t, time.Now)
	trust := kube.ServiceAccountSubject(registry.AWSIdentityAudience)
	aws.WebIdentity = func(role, tok string) bool {
		sub, ok := trust(tok)
		return ok && role == aws.RoleARN && sub == "system:serviceaccount:apps:puller"
	}
	const user, pw = "pusher", "pusher-password"
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{
		Auth: testenv.AuthToken, Username: user, Password: pw,
		Accept: func(u, p string) bool { return (u == user && p == pw) || aws.Accept(u, p) },
	})
	reg.PushImage(t, "team/app", "1.0.0", testenv.ImageOptions{})
	reg.PushImage(t, "team/app", "1.2.0", testenv.ImageOptions{})
	_, port, _ := net.SplitHostPort(reg.Host)
	image := "123456789012.dkr.ecr.us-east-1.amazonaws.com:" + port + "/team/app"

	create(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}})
	for _, name := range []string{"puller", "other"} {
		create(ctx, t, c, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "apps", Annotations: map[string]string{controller.AWSRoleARNAnnotation: aws.RoleARN},
		}})
		create(ctx, t, c, &v1alpha1.ImageRepository{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "apps"},
			Spec: v1alpha1.ImageRepositorySpec{
				Image: image, Insecure: true, Provider: registry.ProviderAWS, ServiceAccountName: name,
				Interval: metav1.Duration{Duration: time.Hour},
			},
		})
		create(ctx, t, c, &v1alpha1.ImagePolicy{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "apps"},
			Spec: v1alpha1.ImagePolicySpec{
				ImageRepositoryRef: v1alpha1.NamespacedObjectReference{Name: name},
				Policy:             v1alpha1.ImagePolicyChoice{SemVer: &v1alpha1.SemVerPolicy{Range: ">=1.0.0"}},
			},
		})
	}

	// The process's environment is empty but for these (and its own HOME):
	// no AWS identity of its own, the fakes as AWS's endpoints, and the
	// proxy that takes the ECR host name to the test registry.
	env := []string{
		"HTTP_PROXY=" + testenv.LoopbackProxy(t),
		"AWS_ENDPOINT_URL_ECR=" + aws.URL, "AWS_ENDPOINT_URL_STS=" + aws.URL,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	p := startHoistCommand(t, "controller", freeAddr(t), env,
		"--kubeconfig", kube.KubeConfig, "--state-dir", filepath.Join(t.TempDir(), "state"),
		"--startup-spread", "0", "--log-level", "debug")
	waitPolicy(ctx, t, c, "apps", "puller", func(p *v1alpha1.ImagePolicy) bool {
		return p.Status.LatestRef != nil && p.Status.LatestRef.Tag == "1.2.0"
	})
	var repo v1alpha1.ImageRepository
	waitFor(ctx, t, "the untrusted ServiceAccount's Ready=False", func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: "apps", Name: "other"}, &repo) == nil && ready(repo.Status.Conditions) == metav1.ConditionFalse
	})
	msg := apimeta.FindStatusCondition(repo.Status.Conditions, controller.ReadyCondition).Message
	for _, want := range []string{"ServiceAccount apps/other", "AccessDenied"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Ready message %q does not say %q", msg, want)
		}
	}
	p.stop()
	if aws.STS.Calls() == 0 || len(aws.ECR.Issued()) == 0 {
		t.Errorf("STS answered %d calls, ECR issued %d passwords: the identity was not exchanged", aws.STS.Calls(), len(aws.ECR.Issued()))
	}
	for _, tok := range append(aws.ECR.Issued(), aws.STS.Issued()...) {
		if strings.Contains(p.logs(), tok) {
			t.Errorf("a token the cloud issued is in hoist's logs")
		}
	}
}
