package integration

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/controller"
	"github.com/hoist-dev/hoist/internal/testenv"
)

// TestControllerHoistGitRepository: an automation whose sourceRef names
// hoist's own GitRepository (hoist.dev/v1alpha1) commits to its url and
// branch; the GitRepository gets Ready=True (its message without the
// token of a URL), and one with an invalid url Ready=False naming the
// field.
func TestControllerHoistGitRepository(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end controller test")
	}
	kube := testenv.StartKube(t, controller.NewScheme(), filepath.Join("..", "config", "crd"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := kube.Client
	f := newFleet(t, fleetOptions{first: "1.0.0", semver: ">=1.0.0", repoInterval: "1s"})
	applyFleet(ctx, t, c, f, nil)
	useSourceRef(ctx, t, c, f, v1alpha1.APIVersion)
	create(ctx, t, c, &v1alpha1.GitRepository{
		ObjectMeta: metav1.ObjectMeta{Name: "fleet", Namespace: f.namespace},
		Spec: v1alpha1.GitRepositorySpec{
			URL: f.git.RepoURL("fleet.git"), Reference: &v1alpha1.GitRepositoryRef{Branch: "main"},
			Interval: metav1.Duration{Duration: time.Hour},
		},
	})
	create(ctx, t, c, &v1alpha1.GitRepository{
		ObjectMeta: metav1.ObjectMeta{Name: "broken", Namespace: f.namespace},
		Spec:       v1alpha1.GitRepositorySpec{URL: "ftp://example.com/fleet.git", Interval: metav1.Duration{Duration: time.Hour}},
	})
	// A token written as the URL's user name is accepted (with a warning)
	// and must not reach the status.
	const token = "ghp_0123456789abcdefghijklmnopqrstuvwxyz"
	create(ctx, t, c, &v1alpha1.GitRepository{
		ObjectMeta: metav1.ObjectMeta{Name: "tokened", Namespace: f.namespace},
		Spec:       v1alpha1.GitRepositorySpec{URL: "https://" + token + "@git.example.com/org/fleet.git", Interval: metav1.Duration{Duration: time.Hour}},
	})

	p := startController(t, kube)
	gitReady := func(name string) *metav1.Condition {
		t.Helper()
		var g v1alpha1.GitRepository
		var cond *metav1.Condition
		waitFor(ctx, t, "the Ready condition of GitRepository "+name, func() bool {
			if c.Get(ctx, client.ObjectKey{Namespace: f.namespace, Name: name}, &g) != nil {
				return false
			}
			cond = apimeta.FindStatusCondition(g.Status.Conditions, controller.ReadyCondition)
			return cond != nil && g.Status.ObservedGeneration == g.Generation
		})
		return cond
	}
	if cond := gitReady("fleet"); cond.Status != metav1.ConditionTrue {
		t.Errorf("GitRepository fleet: Ready=%s %q, want True", cond.Status, cond.Message)
	}
	if cond := gitReady("tokened"); cond.Status != metav1.ConditionTrue || strings.Contains(cond.Message, token) {
		t.Errorf("GitRepository tokened: Ready=%s %q, want True without the token", cond.Status, cond.Message)
	}
	if cond := gitReady("broken"); cond.Status != metav1.ConditionFalse || !strings.Contains(cond.Message, "spec.url") {
		t.Errorf("GitRepository broken: Ready=%s %q, want False naming spec.url", cond.Status, cond.Message)
	}

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
	p.stop()
}

// TestControllerFluxCRDInstalledLater: Flux's GitRepository CRD installed
// after the controller started is seen without a restart: an automation
// naming a Flux GitRepository goes from Ready=False (the CRD is not
// installed) to Ready=True and commits; when the CRD is removed, it says
// so again.
func TestControllerFluxCRDInstalledLater(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end controller test")
	}
	kube := testenv.StartKube(t, controller.NewScheme(), filepath.Join("..", "config", "crd"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := kube.Client
	f := newFleet(t, fleetOptions{first: "1.0.0", semver: ">=1.0.0", repoInterval: "1s"})
	applyFleet(ctx, t, c, f, nil)
	useGitRepository(ctx, t, c, f)
	p := startController(t, kube)

	key := client.ObjectKey{Namespace: f.namespace, Name: "fleet"}
	var a v1alpha1.ImageUpdateAutomation
	automationReady := func(what string, want metav1.ConditionStatus, inMessage string) {
		t.Helper()
		waitFor(ctx, t, what, func() bool {
			if c.Get(ctx, key, &a) != nil {
				return false
			}
			cond := apimeta.FindStatusCondition(a.Status.Conditions, controller.ReadyCondition)
			return cond != nil && cond.Status == want && strings.Contains(cond.Message, inMessage)
		})
	}
	const notInstalled = "gitrepositories.source.toolkit.fluxcd.io, v1) is not installed"
	automationReady("Ready=False: Flux's CRD is not installed", metav1.ConditionFalse, notInstalled)

	crd := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(fluxGitRepositoryCRD), &crd.Object); err != nil {
		t.Fatal(err)
	}
	create(ctx, t, c, crd)
	g := &unstructured.Unstructured{}
	g.SetGroupVersionKind(controller.FluxGitRepository)
	g.SetNamespace(f.namespace)
	g.SetName("fleet")
	g.Object["spec"] = map[string]any{"url": f.git.RepoURL("fleet.git"), "ref": map[string]any{"branch": "main"}}
	// The API server serves the kind once the CRD is established.
	waitFor(ctx, t, "Flux's GitRepository served", func() bool { return c.Create(ctx, g) == nil })
	automationReady("Ready=True once Flux's CRD and GitRepository exist", metav1.ConditionTrue, "")

	waitPolicy(ctx, t, c, f.namespace, f.name, func(p *v1alpha1.ImagePolicy) bool { return p.Status.LatestRef != nil })
	initial := f.head()
	head, _ := waitRef(t, f.bare, "main", f.push("1.1.0"), 60*time.Second)
	if n := commits(t, f.bare, initial, head); n != 1 {
		t.Errorf("one tag made %d commits", n)
	}

	if err := c.Delete(ctx, crd); err != nil {
		t.Fatal(err)
	}
	automationReady("Ready=False: Flux's CRD removed", metav1.ConditionFalse, notInstalled)
	p.waitLog("no longer watching Flux's GitRepositories", 10*time.Second)
	p.stop()
}
