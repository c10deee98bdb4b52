package integration

import (
	"context"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/controller"
	"github.com/hoist-dev/hoist/internal/testenv"
)

// TestControllerRestartEmptyState: the state that must survive a pod
// (the last selections, the lease of the push branch) lives in the
// objects' status. A controller commits to its push branch and stops; a
// new one with an empty --state-dir commits nothing again, sees no
// selection change, and, although the commit author changed meanwhile
// (so that the branch's tip is not recognisably its own), still owns the
// branch by its lease and commits the next tag.
func TestControllerRestartEmptyState(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end controller test")
	}
	kube := testenv.StartKube(t, controller.NewScheme(), filepath.Join("..", "config", "crd"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := kube.Client
	f := newFleet(t, fleetOptions{first: "1.0.0", semver: ">=1.0.0", repoInterval: "1s"})
	applyFleet(ctx, t, c, f, nil)
	const branch = "hoist/prod"
	auto := &v1alpha1.ImageUpdateAutomation{}
	key := client.ObjectKey{Namespace: f.namespace, Name: "fleet"}
	update := func(change func(*v1alpha1.ImageUpdateAutomation)) {
		t.Helper()
		// The controller writes the object's status meanwhile: retry on
		// a conflict.
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := c.Get(ctx, key, auto); err != nil {
				return err
			}
			change(auto)
			return c.Update(ctx, auto)
		}); err != nil {
			t.Fatal(err)
		}
	}
	update(func(a *v1alpha1.ImageUpdateAutomation) { a.Spec.Git.Push = &v1alpha1.PushSpec{Branch: branch} })

	a := startController(t, kube)
	waitPolicy(ctx, t, c, f.namespace, f.name, func(p *v1alpha1.ImagePolicy) bool { return p.Status.LatestRef != nil })
	// A signature tag is no tag of the repository's (exclusionList).
	f.push("1.1.0", "sha256-0123.sig")
	first, _ := waitRef(t, f.bare, branch, "", 60*time.Second)
	main := f.head()
	if n := commits(t, f.bare, main, first); n != 1 {
		t.Fatalf("%s has %d commits over main, want 1", branch, n)
	}
	// The status records the push before the controller stops.
	waitFor(ctx, t, "the automation's lastPushCommit "+first, func() bool {
		return c.Get(ctx, key, auto) == nil && auto.Status.LastPushCommit == first
	})
	waitPolicy(ctx, t, c, f.namespace, f.name, func(p *v1alpha1.ImagePolicy) bool {
		return p.Status.LatestRef != nil && p.Status.LatestRef.Tag == "1.1.0"
	})
	var repo v1alpha1.ImageRepository
	waitFor(ctx, t, "the repository's lastScanResult", func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: f.namespace, Name: f.name}, &repo) == nil &&
			repo.Status.LastScanResult != nil && repo.Status.LastScanResult.TagCount == 2
	})
	if diff := cmp.Diff([]string{"1.1.0", "1.0.0"}, repo.Status.LastScanResult.LatestTags); diff != "" {
		t.Errorf("latestTags (-want +got):\n%s", diff)
	}
	if want := f.reg.Ref(f.image(), ""); repo.Status.CanonicalImageName != want {
		t.Errorf("canonicalImageName %q, want %q", repo.Status.CanonicalImageName, want)
	}
	a.stop()

	// The bot's identity changes while no controller runs.
	update(func(a *v1alpha1.ImageUpdateAutomation) { a.Spec.Git.Commit.Author.Email = "bot@example.com" })
	b := startController(t, kube) // a new, empty state directory
	b.waitLog("automation: nothing to do", 60*time.Second)
	if h := refHead(t, f.bare, branch); h != first {
		t.Errorf("the new controller moved %s from %s to %s", branch, first, h)
	}
	if n := commits(t, f.bare, main, refHead(t, f.bare, branch)); n != 1 {
		t.Errorf("%s has %d commits over main after the restart, want 1", branch, n)
	}
	if strings.Contains(b.logs(), "selection changed") {
		t.Errorf("the new controller saw a selection change it had already made:\n%s", b.logs())
	}

	// The next tag: committed once, by the new controller, to the branch
	// it owns by its lease.
	f.push("1.2.0")
	next, _ := waitRef(t, f.bare, branch, first, 60*time.Second)
	if n := commits(t, f.bare, main, next); n != 1 {
		t.Errorf("%s has %d commits over main, want 1", branch, n)
	}
	if got := testenv.GitCLI(t, f.bare, "show", branch+":"+f.manifest()); !strings.Contains(got, "podinfo:1.2.0") {
		t.Errorf("%s does not have 1.2.0:\n%s", branch, got)
	}
	waitFor(ctx, t, "the automation's lastPushCommit "+next, func() bool {
		return c.Get(ctx, key, auto) == nil && auto.Status.LastPushCommit == next
	})
	b.stop()
}

// TestControllerSecretChange: an ImageRepository whose Secret holds wrong
// credentials is Ready=False; fixing the Secret alone (the repository's
// interval is an hour, and it is not touched) makes it Ready=True.
func TestControllerSecretChange(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end controller test")
	}
	kube := testenv.StartKube(t, controller.NewScheme(), filepath.Join("..", "config", "crd"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := kube.Client
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{Auth: testenv.AuthBasic})
	reg.PushImage(t, "apps/private", "1.0.0", testenv.ImageOptions{})
	const ns = "private"
	create(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	dockerConfig := func(password string) map[string]string {
		auth := base64.StdEncoding.EncodeToString([]byte(reg.Username + ":" + password))
		return map[string]string{".dockerconfigjson": fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.Host, auth)}
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: ns},
		Type:       corev1.SecretTypeDockerConfigJson,
		StringData: dockerConfig("wrong"),
	}
	create(ctx, t, c, secret)
	create(ctx, t, c, &v1alpha1.ImageRepository{
		ObjectMeta: metav1.ObjectMeta{Name: "private", Namespace: ns},
		Spec: v1alpha1.ImageRepositorySpec{
			Image: reg.Ref("apps/private", ""), Interval: metav1.Duration{Duration: time.Hour},
			SecretRef: &v1alpha1.LocalObjectReference{Name: "regcred"},
		},
	})
	create(ctx, t, c, &v1alpha1.ImagePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "private", Namespace: ns},
		Spec: v1alpha1.ImagePolicySpec{
			ImageRepositoryRef: v1alpha1.NamespacedObjectReference{Name: "private"},
			Policy:             v1alpha1.ImagePolicyChoice{SemVer: &v1alpha1.SemVerPolicy{Range: ">=1.0.0"}},
		},
	})
	p := startController(t, kube)
	key := client.ObjectKey{Namespace: ns, Name: "private"}
	var repo v1alpha1.ImageRepository
	waitFor(ctx, t, "Ready=False with the wrong password", func() bool {
		return c.Get(ctx, key, &repo) == nil && ready(repo.Status.Conditions) == metav1.ConditionFalse
	})
	generation := repo.Generation

	if err := c.Get(ctx, client.ObjectKeyFromObject(secret), secret); err != nil {
		t.Fatal(err)
	}
	secret.Data = nil
	secret.StringData = dockerConfig(reg.Password)
	if err := c.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "Ready=True with the right password", func() bool {
		return c.Get(ctx, key, &repo) == nil && ready(repo.Status.Conditions) == metav1.ConditionTrue
	})
	if repo.Generation != generation || repo.Annotations[controller.RequestedAtAnnotation] != "" {
		t.Errorf("the repository was touched: generation %d, then %d", generation, repo.Generation)
	}
	waitPolicy(ctx, t, c, ns, "private", func(p *v1alpha1.ImagePolicy) bool {
		return p.Status.LatestRef != nil && p.Status.LatestRef.Tag == "1.0.0"
	})
	if strings.Contains(p.logs(), reg.Password) {
		t.Errorf("the password leaked into the logs")
	}
	p.stop()
}

// fluxGitRepositoryCRD is a minimal CustomResourceDefinition of Flux's
// source.toolkit.fluxcd.io/v1 GitRepository, written by the test: Flux's
// source-controller cannot run here (it would clone from the network), and
// hoist only reads the objects, so their schema is all the test needs.
const fluxGitRepositoryCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gitrepositories.source.toolkit.fluxcd.io
spec:
  group: source.toolkit.fluxcd.io
  names: {kind: GitRepository, listKind: GitRepositoryList, plural: gitrepositories, singular: gitrepository}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
            status: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

// useGitRepository makes the fleet's automation name Flux's GitRepository
// "fleet" instead of its spec.git.url.
func useGitRepository(ctx context.Context, t *testing.T, c client.Client, f *fleet) {
	t.Helper()
	useSourceRef(ctx, t, c, f, "source.toolkit.fluxcd.io/v1")
}

// useSourceRef makes the fleet's automation name the GitRepository "fleet"
// of apiVersion instead of its spec.git.url.
func useSourceRef(ctx context.Context, t *testing.T, c client.Client, f *fleet, apiVersion string) {
	t.Helper()
	var a v1alpha1.ImageUpdateAutomation
	// The controller writes the object's status meanwhile: retry on a
	// conflict.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(ctx, client.ObjectKey{Namespace: f.namespace, Name: "fleet"}, &a); err != nil {
			return err
		}
		a.Spec.Git.URL, a.Spec.Git.Checkout = "", nil
		a.Spec.SourceRef = &v1alpha1.CrossNamespaceSourceReference{APIVersion: apiVersion, Kind: "GitRepository", Name: "fleet"}
		return c.Update(ctx, &a)
	}); err != nil {
		t.Fatal(err)
	}
}

// TestControllerFluxGitRepository: with Flux's GitRepository CRD
// installed, an automation whose sourceRef names a GitRepository commits
// to its url and branch; the GitRepository is never written.
func TestControllerFluxGitRepository(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end controller test")
	}
	crds := t.TempDir()
	writeFile(t, filepath.Join(crds, "gitrepository.yaml"), fluxGitRepositoryCRD)
	kube := testenv.StartKube(t, controller.NewScheme(), filepath.Join("..", "config", "crd"), crds)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := kube.Client
	f := newFleet(t, fleetOptions{first: "1.0.0", semver: ">=1.0.0", repoInterval: "1s"})
	applyFleet(ctx, t, c, f, nil)
	useGitRepository(ctx, t, c, f)
	g := &unstructured.Unstructured{}
	g.SetGroupVersionKind(controller.FluxGitRepository)
	g.SetNamespace(f.namespace)
	g.SetName("fleet")
	// interval and timeout are source-controller's: hoist ignores them.
	g.Object["spec"] = map[string]any{"url": f.git.RepoURL("fleet.git"), "ref": map[string]any{"branch": "main"}, "interval": "1m", "timeout": "60s"}
	if err := c.Create(ctx, g); err != nil {
		t.Fatal(err)
	}
	created := g.GetResourceVersion()

	p := startController(t, kube)
	waitPolicy(ctx, t, c, f.namespace, f.name, func(p *v1alpha1.ImagePolicy) bool { return p.Status.LatestRef != nil })
	initial := f.head()
	head, _ := waitRef(t, f.bare, "main", f.push("1.1.0"), 60*time.Second)
	if n := commits(t, f.bare, initial, head); n != 1 {
		t.Errorf("one tag made %d commits", n)
	}
	if got := f.deployed(); !strings.Contains(got, "podinfo:1.1.0") {
		t.Errorf("main does not have 1.1.0:\n%s", got)
	}
	var a v1alpha1.ImageUpdateAutomation
	waitFor(ctx, t, "the automation's lastPushCommit "+head, func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: f.namespace, Name: "fleet"}, &a) == nil && a.Status.LastPushCommit == head
	})
	if err := c.Get(ctx, client.ObjectKeyFromObject(g), g); err != nil {
		t.Fatal(err)
	}
	if g.GetResourceVersion() != created || g.Object["status"] != nil {
		t.Errorf("the GitRepository was written: resourceVersion %s, then %s; status %v", created, g.GetResourceVersion(), g.Object["status"])
	}
	p.stop()
}

// TestControllerNoFluxGitRepository: without Flux's CRD, an automation
// whose sourceRef names a GitRepository is Ready=False and says why.
func TestControllerNoFluxGitRepository(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end controller test")
	}
	kube := testenv.StartKube(t, controller.NewScheme(), filepath.Join("..", "config", "crd"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := kube.Client
	f := newFleet(t, fleetOptions{first: "1.0.0", semver: ">=1.0.0"})
	applyFleet(ctx, t, c, f, nil)
	useGitRepository(ctx, t, c, f)
	p := startController(t, kube)
	var a v1alpha1.ImageUpdateAutomation
	waitFor(ctx, t, "the automation's Ready=False", func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: f.namespace, Name: "fleet"}, &a) == nil && ready(a.Status.Conditions) == metav1.ConditionFalse
	})
	cond := apimeta.FindStatusCondition(a.Status.Conditions, controller.ReadyCondition)
	if !strings.Contains(cond.Message, "spec.sourceRef") || !strings.Contains(cond.Message, "gitrepositories.source.toolkit.fluxcd.io") || !strings.Contains(cond.Message, "spec.git.url") {
		t.Errorf("the Ready condition does not say that Flux's GitRepository is missing: %+v", cond)
	}
	p.stop()
}
