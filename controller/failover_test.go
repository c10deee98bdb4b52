package controller

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// TestSetWaiting: an object with no scan or run of this controller yet is
// Reconciling, unless its status already says Ready=True, or Ready=False
// for a failed scan or run, for its current generation (another
// controller's, before a restart or failover), which it keeps.
func TestSetWaiting(t *testing.T) {
	ready := metav1.Condition{Type: ReadyCondition, Status: metav1.ConditionTrue, Reason: ReasonSucceeded, Message: "latest image is web:1.0", ObservedGeneration: 2}
	failed := metav1.Condition{Type: ReadyCondition, Status: metav1.ConditionFalse, Reason: ReasonFailed, Message: "scan failed", ObservedGeneration: 2}
	stalled := metav1.Condition{Type: ReadyCondition, Status: metav1.ConditionFalse, Reason: ReasonInvalid, Message: "spec.image: empty", ObservedGeneration: 2}
	progressing := []metav1.Condition{
		{Type: ReconcilingCondition, Status: metav1.ConditionTrue, Reason: ReasonProgressing, Message: "waiting", ObservedGeneration: 2},
		{Type: ReadyCondition, Status: metav1.ConditionUnknown, Reason: ReasonProgressing, Message: "waiting", ObservedGeneration: 2},
	}
	older := func(c metav1.Condition) metav1.Condition { c.ObservedGeneration = 1; return c }
	for name, tc := range map[string]struct {
		conds, want []metav1.Condition
	}{
		"never observed":                  {conds: nil, want: progressing},
		"ready for this generation: kept": {conds: []metav1.Condition{ready}, want: []metav1.Condition{ready}},
		"failed for this generation: kept": {
			conds: []metav1.Condition{failed}, want: []metav1.Condition{failed},
		},
		"ready for an older generation": {conds: []metav1.Condition{older(ready)}, want: progressing},
		"invalid spec: checked again":   {conds: []metav1.Condition{stalled, {Type: StalledCondition, Status: metav1.ConditionTrue, Reason: ReasonInvalid, ObservedGeneration: 2}}, want: progressing},
		"already progressing":           {conds: progressing, want: progressing},
	} {
		t.Run(name, func(t *testing.T) {
			conds := append([]metav1.Condition(nil), tc.conds...)
			setWaiting(&conds, 2, "waiting")
			ignoreTime := cmp.Comparer(func(a, b metav1.Time) bool { return true })
			byType := cmpopts.SortSlices(func(a, b metav1.Condition) bool { return a.Type < b.Type })
			if diff := cmp.Diff(tc.want, conds, ignoreTime, byType); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNewLeaderKeepsReady: a controller that starts (a new pod, a new
// leader) on objects another one made Ready keeps them Ready until its
// own first scan writes what it found: every status written from the
// moment the first controller stopped until the second wrote its scan of
// a new tag (seen on a watch started before the second controller) says
// Ready=True, never Unknown or False.
func TestNewLeaderKeepsReady(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver")
	}
	kube := testenv.StartKube(t, NewScheme(), filepath.Join("..", "config", "crd"))
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	c := kube.Client
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	d := reg.PushImage(t, "team/app", "1.0.0", testenv.ImageOptions{})
	rc, err := registry.New(registry.WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	runner := func() *automation.Runner { // a new pod: an empty --state-dir
		state := t.TempDir()
		return &automation.Runner{Scanner: &automation.Scanner{Registry: rc}, StateDir: state, SecretsDir: filepath.Join(state, "secrets")}
	}
	log := slog.New(slog.DiscardHandler)

	stop := runManager(ctx, t, kube, runner(), log)
	defer stop()
	create(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}})
	create(ctx, t, c, &v1alpha1.ImageRepository{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "apps"},
		Spec:       v1alpha1.ImageRepositorySpec{Image: reg.Ref("team/app", ""), Interval: metav1.Duration{Duration: time.Hour}},
	})
	create(ctx, t, c, &v1alpha1.ImagePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "apps"},
		Spec: v1alpha1.ImagePolicySpec{
			ImageRepositoryRef: v1alpha1.NamespacedObjectReference{Name: "app"},
			Policy:             v1alpha1.ImagePolicyChoice{SemVer: &v1alpha1.SemVerPolicy{Range: ">=1.0.0"}},
		},
	})
	key := client.ObjectKey{Namespace: "apps", Name: "app"}
	waitFor(ctx, t, "the first controller's Ready statuses", func() bool {
		var r v1alpha1.ImageRepository
		var p v1alpha1.ImagePolicy
		return c.Get(ctx, key, &r) == nil && apimeta.IsStatusConditionTrue(r.Status.Conditions, ReadyCondition) && r.Status.LastScanResult != nil &&
			c.Get(ctx, key, &p) == nil && apimeta.IsStatusConditionTrue(p.Status.Conditions, ReadyCondition) && p.Status.LatestRef != nil
	})
	stop()

	// Something new for the second controller to say: a new tag.
	reg.Tag(t, "team/app", d, "1.1.0")

	wc, err := client.NewWithWatch(kube.Config, client.Options{Scheme: NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	watchFrom := func(list client.ObjectList) watch.Interface {
		if err := c.List(ctx, list, client.InNamespace("apps")); err != nil {
			t.Fatal(err)
		}
		w, err := wc.Watch(ctx, list, client.InNamespace("apps"), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.(metav1.ListInterface).GetResourceVersion()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
		return w
	}
	repos, policies := watchFrom(&v1alpha1.ImageRepositoryList{}), watchFrom(&v1alpha1.ImagePolicyList{})

	defer runManager(ctx, t, kube, runner(), log)()

	// Every status written until the second controller's scan of 1.1.0
	// shows, on both objects.
	check := func(kind string, conds []metav1.Condition) {
		t.Helper()
		ready := apimeta.FindStatusCondition(conds, ReadyCondition)
		if ready == nil || ready.Status != metav1.ConditionTrue || apimeta.FindStatusCondition(conds, ReconcilingCondition) != nil {
			t.Errorf("%s status written with conditions %+v, want Ready=True throughout", kind, conds)
		}
	}
	repoScanned, policySelected := false, false
	for !repoScanned || !policySelected {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for the second controller's scan of 1.1.0 (repository %v, policy %v): %v", repoScanned, policySelected, ctx.Err())
		case ev, ok := <-repos.ResultChan():
			if !ok {
				t.Fatal("the watch of ImageRepositories ended")
			}
			if r, ok := ev.Object.(*v1alpha1.ImageRepository); ok {
				check("ImageRepository", r.Status.Conditions)
				repoScanned = r.Status.LastScanResult != nil && r.Status.LastScanResult.TagCount == 2
			}
		case ev, ok := <-policies.ResultChan():
			if !ok {
				t.Fatal("the watch of ImagePolicies ended")
			}
			if p, ok := ev.Object.(*v1alpha1.ImagePolicy); ok {
				check("ImagePolicy", p.Status.Conditions)
				policySelected = p.Status.LatestRef != nil && p.Status.LatestRef.Tag == "1.1.0"
			}
		}
	}
}
