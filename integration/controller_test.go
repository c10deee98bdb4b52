package integration

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/controller"
	"github.com/hoist-dev/hoist/internal/testenv"
)

// TestControllerEndToEnd runs `hoist controller` against a real API
// server: the custom resources are applied, a tag pushed to the registry
// becomes the policy's status.latestRef, an event and a commit on the Git
// server; a policy with a bad spec gets Ready=False naming the field; a
// deleted policy is no longer written.
func TestControllerEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end controller test")
	}
	kube := testenv.StartKube(t, controller.NewScheme(), filepath.Join("..", "config", "crd"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := kube.Client

	f := newFleet(t, fleetOptions{first: "1.0.0", semver: ">=1.0.0", repoInterval: "1s"})
	const ns = "apps"
	policy := applyFleet(ctx, t, c, f, nil)
	// other selects from the same repository; no marker in Git names it.
	create(ctx, t, c, policy("other", ">=1.0.0"))

	p := startController(t, kube)

	// The first scan selects 1.0.0, which Git already has.
	waitPolicy(ctx, t, c, ns, "podinfo", func(p *v1alpha1.ImagePolicy) bool {
		return p.Status.LatestRef != nil && p.Status.LatestRef.Tag == "1.0.0" && ready(p.Status.Conditions) == metav1.ConditionTrue
	})

	// A new tag: status, event, commit.
	initial := f.head()
	head, _ := waitRef(t, f.bare, "main", f.push("1.1.0"), 60*time.Second)
	if n := commits(t, f.bare, initial, head); n != 1 {
		t.Errorf("one tag made %d commits", n)
	}
	if got := f.deployed(); !strings.Contains(got, "podinfo:1.1.0") {
		t.Fatalf("main does not have 1.1.0:\n%s", got)
	}
	pol := waitPolicy(ctx, t, c, ns, "podinfo", func(p *v1alpha1.ImagePolicy) bool {
		return p.Status.LatestRef != nil && p.Status.LatestRef.Tag == "1.1.0"
	})
	if pol.Status.ObservedPreviousRef == nil || pol.Status.ObservedPreviousRef.Tag != "1.0.0" || pol.Status.ObservedGeneration != pol.Generation {
		t.Errorf("policy status: %+v", pol.Status)
	}
	var auto v1alpha1.ImageUpdateAutomation
	waitFor(ctx, t, "the automation's lastPushCommit "+head, func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "fleet"}, &auto) == nil && auto.Status.LastPushCommit == head
	})
	waitFor(ctx, t, "NewSelection and Pushed events", func() bool {
		var evs eventsv1.EventList
		if err := c.List(ctx, &evs, client.InNamespace(ns)); err != nil {
			return false
		}
		seen := map[string]bool{}
		for _, e := range evs.Items {
			seen[e.Regarding.Name+" "+e.Reason] = true
		}
		return seen["podinfo "+controller.ReasonNewSelection] && seen["fleet "+controller.ReasonPushed]
	})
	var repo v1alpha1.ImageRepository
	waitFor(ctx, t, "the repository's lastScanResult", func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, &repo) == nil && repo.Status.LastScanResult != nil && repo.Status.LastScanResult.TagCount == 2
	})
	if repo.Status.CanonicalImageName == "" {
		t.Errorf("repository status: %+v", repo.Status)
	}

	// A bad resource: Ready=False naming the field; the rest goes on.
	create(ctx, t, c, policy("broken", ">>"))
	broken := waitPolicy(ctx, t, c, ns, "broken", func(p *v1alpha1.ImagePolicy) bool {
		return ready(p.Status.Conditions) == metav1.ConditionFalse
	})
	if cond := apimeta.FindStatusCondition(broken.Status.Conditions, controller.ReadyCondition); !strings.Contains(cond.Message, "spec.policy.semver.range") || cond.Reason != controller.ReasonInvalid {
		t.Errorf("the broken policy's Ready condition does not name the field: %+v", cond)
	}
	if !apimeta.IsStatusConditionTrue(broken.Status.Conditions, controller.StalledCondition) {
		t.Errorf("the broken policy is not Stalled: %+v", broken.Status.Conditions)
	}

	// A deleted policy is no longer written: other sees 1.2.0, the
	// automation runs, main stays.
	applied := strings.Count(p.logs(), "configuration applied")
	if err := c.Delete(ctx, policy("podinfo", "")); err != nil {
		t.Fatal(err)
	}
	p.waitLogCount("configuration applied", applied+1, 10*time.Second)
	runs := strings.Count(p.logs(), `automation=apps/fleet`)
	f.push("1.2.0")
	waitPolicy(ctx, t, c, ns, "other", func(p *v1alpha1.ImagePolicy) bool {
		return p.Status.LatestRef != nil && p.Status.LatestRef.Tag == "1.2.0"
	})
	p.waitLogCount(`automation=apps/fleet`, runs+1, 30*time.Second)
	if h := f.head(); h != head {
		t.Errorf("main moved from %s to %s after the policy was deleted:\n%s", head, h, f.deployed())
	}
	p.stop()
}

// applyFleet creates the namespace of f and its ImageRepository, ImagePolicy
// and ImageUpdateAutomation (all named as in f's files, with labels), and
// returns a builder of more policies of its repository.
func applyFleet(ctx context.Context, t testing.TB, c client.Client, f *fleet, labels map[string]string) func(name, semver string) *v1alpha1.ImagePolicy {
	t.Helper()
	ns := f.namespace
	interval, err := time.ParseDuration(f.repoInterval)
	if err != nil {
		t.Fatal(err)
	}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
	}
	create(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	create(ctx, t, c, &v1alpha1.ImageRepository{
		ObjectMeta: meta(f.name),
		Spec:       v1alpha1.ImageRepositorySpec{Image: f.reg.Ref(f.image(), ""), Interval: metav1.Duration{Duration: interval}},
	})
	policy := func(name, semver string) *v1alpha1.ImagePolicy {
		return &v1alpha1.ImagePolicy{
			ObjectMeta: meta(name),
			Spec: v1alpha1.ImagePolicySpec{
				ImageRepositoryRef: v1alpha1.NamespacedObjectReference{Name: f.name},
				Policy:             v1alpha1.ImagePolicyChoice{SemVer: &v1alpha1.SemVerPolicy{Range: semver}},
			},
		}
	}
	create(ctx, t, c, policy(f.name, f.semver))
	create(ctx, t, c, &v1alpha1.ImageUpdateAutomation{
		ObjectMeta: meta("fleet"),
		Spec: v1alpha1.ImageUpdateAutomationSpec{
			Interval: metav1.Duration{Duration: time.Hour},
			Git: &v1alpha1.GitSpec{
				URL:      f.git.RepoURL("fleet.git"),
				Checkout: &v1alpha1.GitCheckoutSpec{Reference: v1alpha1.GitRepositoryRef{Branch: "main"}},
				Commit:   v1alpha1.CommitSpec{Author: v1alpha1.CommitUser{Name: "hoist", Email: "hoist@example.com"}},
			},
			Update: &v1alpha1.UpdateStrategy{Path: "./apps", Strategy: v1alpha1.UpdateStrategySetters},
		},
	})
	return policy
}

// startController starts hoist controller on kube with its own state
// directory.
func startController(t testing.TB, kube *testenv.Kube, args ...string) *hoistProcess {
	t.Helper()
	return startControllerAt(t, kube, freeAddr(t), args...)
}

// startControllerAt is startController listening on addr.
func startControllerAt(t testing.TB, kube *testenv.Kube, addr string, args ...string) *hoistProcess {
	t.Helper()
	return startHoistCommand(t, "controller", addr, nil, append([]string{
		"--kubeconfig", kube.KubeConfig, "--state-dir", filepath.Join(t.TempDir(), "state"),
		"--commit-window", "0", "--startup-spread", "0", "--log-level", "debug"}, args...)...)
}

// commits counts the commits of dir in from..to.
func commits(t testing.TB, dir, from, to string) int {
	t.Helper()
	return strings.Count(testenv.GitCLI(t, dir, "rev-list", from+".."+to), "\n")
}

func create(ctx context.Context, t testing.TB, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(ctx, obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// ready is the status of an object's Ready condition.
func ready(conds []metav1.Condition) metav1.ConditionStatus {
	if c := apimeta.FindStatusCondition(conds, controller.ReadyCondition); c != nil {
		return c.Status
	}
	return ""
}

// waitFor waits until cond holds; it reads the API server's objects (the
// status the controller writes is the signal).
func waitFor(ctx context.Context, t testing.TB, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func waitPolicy(ctx context.Context, t testing.TB, c client.Client, ns, name string, cond func(*v1alpha1.ImagePolicy) bool) *v1alpha1.ImagePolicy {
	t.Helper()
	var p v1alpha1.ImagePolicy
	waitFor(ctx, t, "ImagePolicy "+ns+"/"+name, func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &p) == nil && cond(&p)
	})
	return &p
}

// TestControllerLeaderElection runs two controllers with leader election:
// one commit per change; when the leader is killed, the other takes over
// within the lease time and commits the next change, once.
func TestControllerLeaderElection(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end controller test")
	}
	kube := testenv.StartKube(t, controller.NewScheme(), filepath.Join("..", "config", "crd"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f := newFleet(t, fleetOptions{first: "1.0.0", semver: ">=1.0.0", repoInterval: "1s"})
	applyFleet(ctx, t, kube.Client, f, nil)
	le := []string{"--leader-elect", "--leader-election-namespace", "default"}
	a := startController(t, kube, le...)
	b := startController(t, kube, le...)
	const acquired = "Successfully acquired lease"
	var leader, standby *hoistProcess
	waitFor(ctx, t, "a leader", func() bool {
		switch {
		case strings.Contains(a.logs(), acquired):
			leader, standby = a, b
		case strings.Contains(b.logs(), acquired):
			leader, standby = b, a
		}
		return leader != nil
	})

	initial := f.head()
	head, _ := waitRef(t, f.bare, "main", f.push("1.1.0"), 60*time.Second)
	var auto v1alpha1.ImageUpdateAutomation
	waitFor(ctx, t, "the automation's lastPushCommit", func() bool {
		return kube.Client.Get(ctx, client.ObjectKey{Namespace: f.namespace, Name: "fleet"}, &auto) == nil && auto.Status.LastPushCommit == head
	})
	if n := commits(t, f.bare, initial, head); n != 1 {
		t.Errorf("two managers made %d commits of one tag", n)
	}
	if strings.Contains(standby.logs(), "automation pushed") {
		t.Errorf("the standby pushed:\n%s", standby.logs())
	}

	// Kill the leader (no lease release): the standby takes over.
	killed := time.Now()
	if err := leader.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	standby.waitLog(acquired, 60*time.Second)
	t.Logf("leader failover (lease 15s): %s", time.Since(killed).Round(time.Millisecond))
	next, at := waitRef(t, f.bare, "main", f.push("1.2.0"), 60*time.Second)
	t.Logf("leader killed to next commit: %s", at.Sub(killed).Round(time.Millisecond))
	if n := commits(t, f.bare, head, next); n != 1 {
		t.Errorf("the new leader made %d commits of one tag", n)
	}
	if got := f.deployed(); !strings.Contains(got, "podinfo:1.2.0") {
		t.Errorf("main does not have 1.2.0:\n%s", got)
	}
	standby.stop()
}

// TestControllerShards runs two controllers, each with its own
// --watch-label-selector: each acts on its own shard's objects only.
func TestControllerShards(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end controller test")
	}
	kube := testenv.StartKube(t, controller.NewScheme(), filepath.Join("..", "config", "crd"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	shards := []string{"shard1", "shard2"}
	var fleets []*fleet
	var procs []*hoistProcess
	for _, s := range shards {
		f := newFleet(t, fleetOptions{namespace: s, first: "1.0.0", semver: ">=1.0.0", repoInterval: "1s"})
		applyFleet(ctx, t, kube.Client, f, map[string]string{"sharding.hoist.dev/key": s})
		fleets = append(fleets, f)
		procs = append(procs, startController(t, kube, "--watch-label-selector", "sharding.hoist.dev/key in ("+s+")"))
	}
	for i, f := range fleets {
		head, _ := waitRef(t, f.bare, "main", f.push("1.1.0"), 60*time.Second)
		if got := f.deployed(); !strings.Contains(got, "podinfo:1.1.0") {
			t.Errorf("%s: main does not have 1.1.0 (%s):\n%s", shards[i], head, got)
		}
	}
	for i, p := range procs {
		other := shards[1-i]
		if strings.Contains(p.logs(), other+"/") || strings.Contains(p.logs(), other+":") {
			t.Errorf("the controller of %s acted on %s:\n%s", shards[i], other, p.logs())
		}
		if !strings.Contains(p.logs(), "automation="+shards[i]+"/fleet") {
			t.Errorf("the controller of %s did not run its automation", shards[i])
		}
		p.stop()
	}
}

// TestControllerReceiver: a Receiver whose token is in a Secret gets its
// status.webhookPath; the registry's notification to that path makes the
// commit at once (the repository's interval is an hour).
func TestControllerReceiver(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end controller test")
	}
	kube := testenv.StartKube(t, controller.NewScheme(), filepath.Join("..", "config", "crd"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := kube.Client
	f := newFleet(t, fleetOptions{first: "1.0.0", semver: ">=1.0.0", notify: true})
	applyFleet(ctx, t, c, f, nil)
	create(ctx, t, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook", Namespace: f.namespace}, StringData: map[string]string{"token": hookToken}})
	create(ctx, t, c, &v1alpha1.Receiver{
		ObjectMeta: metav1.ObjectMeta{Name: "registry", Namespace: f.namespace},
		Spec: v1alpha1.ReceiverSpec{
			Type:      "distribution",
			Resources: []v1alpha1.CrossNamespaceObjectReference{{Kind: v1alpha1.ImageRepositoryKind, Name: f.name}},
			SecretRef: v1alpha1.LocalObjectReference{Name: "hook"},
		},
	})
	// generic-oidc has no Secret: its path has no token, as in Flux.
	create(ctx, t, c, &v1alpha1.Receiver{
		ObjectMeta: metav1.ObjectMeta{Name: "oidc", Namespace: f.namespace},
		Spec: v1alpha1.ReceiverSpec{
			Type:      "generic-oidc",
			Resources: []v1alpha1.CrossNamespaceObjectReference{{Kind: v1alpha1.ImageRepositoryKind, Name: f.name}},
			OIDCProviders: []v1alpha1.OIDCProvider{{IssuerURL: "https://issuer.example.com",
				Validations: []v1alpha1.OIDCValidation{{Expression: "claims.sub == 'acme'", Message: "not acme"}}}},
		},
	})
	p := startControllerAt(t, kube, f.addr)
	for name, token := range map[string]string{"registry": hookToken, "oidc": ""} {
		var rc v1alpha1.Receiver
		waitFor(ctx, t, "the webhookPath of receiver "+name, func() bool {
			return c.Get(ctx, client.ObjectKey{Namespace: f.namespace, Name: name}, &rc) == nil && rc.Status.WebhookPath != ""
		})
		if want := hookPath(token, name, f.namespace); rc.Status.WebhookPath != want {
			t.Errorf("receiver %s: webhookPath %q, want %q", name, rc.Status.WebhookPath, want)
		}
	}
	waitPolicy(ctx, t, c, f.namespace, f.name, func(p *v1alpha1.ImagePolicy) bool { return p.Status.LatestRef != nil })
	waitRef(t, f.bare, "main", f.push("1.1.0"), 30*time.Second)
	if got := f.deployed(); !strings.Contains(got, "podinfo:1.1.0") {
		t.Errorf("main does not have 1.1.0:\n%s", got)
	}
	if strings.Contains(p.logs(), hookToken) {
		t.Errorf("the token leaked into the logs")
	}

	p.stop()
}

// TestControllerRequestedAt: with an interval of an hour and no webhook, a
// new reconcile.fluxcd.io/requestedAt on the ImageRepository makes the scan
// and the commit, and is recorded as status.lastHandledReconcileAt.
func TestControllerRequestedAt(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end controller test")
	}
	kube := testenv.StartKube(t, controller.NewScheme(), filepath.Join("..", "config", "crd"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := kube.Client
	f := newFleet(t, fleetOptions{first: "1.0.0", semver: ">=1.0.0"})
	applyFleet(ctx, t, c, f, nil)
	p := startController(t, kube)
	waitPolicy(ctx, t, c, f.namespace, f.name, func(p *v1alpha1.ImagePolicy) bool { return p.Status.LatestRef != nil })
	head := f.push("1.1.0")
	var repo v1alpha1.ImageRepository
	const at = "2026-12-06T00:00:00Z"
	// The controller writes the object's status meanwhile: retry on a
	// conflict, as kubectl annotate does.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(ctx, client.ObjectKey{Namespace: f.namespace, Name: f.name}, &repo); err != nil {
			return err
		}
		repo.Annotations = map[string]string{controller.RequestedAtAnnotation: at}
		return c.Update(ctx, &repo)
	}); err != nil {
		t.Fatal(err)
	}
	waitRef(t, f.bare, "main", head, 30*time.Second)
	if got := f.deployed(); !strings.Contains(got, "podinfo:1.1.0") {
		t.Errorf("main does not have 1.1.0:\n%s", got)
	}
	waitFor(ctx, t, "lastHandledReconcileAt", func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: f.namespace, Name: f.name}, &repo) == nil && repo.Status.LastHandledReconcileAt == at
	})
	p.stop()
}
