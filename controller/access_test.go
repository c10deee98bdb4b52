package controller

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// TestCrossNamespaceAccess: an ImagePolicy may use an ImageRepository of
// another namespace only when the repository's spec.accessFrom selects the
// policy's namespace by its labels, as in Flux; otherwise it is
// Ready=False with reason AccessDenied, and labelling its namespace admits
// it at once.
func TestCrossNamespaceAccess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver")
	}
	kube := testenv.StartKube(t, NewScheme(), filepath.Join("..", "config", "crd"))
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	c := kube.Client
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	reg.PushImage(t, "team/app", "1.0.0", testenv.ImageOptions{})
	rc, err := registry.New(registry.WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	startManager(ctx, t, kube, &automation.Runner{Scanner: &automation.Scanner{Registry: rc}, StateDir: state, SecretsDir: filepath.Join(state, "secrets")}, slog.New(slog.DiscardHandler))

	for ns, l := range map[string]map[string]string{"images": nil, "apps": {"team": "apps"}, "other": nil} {
		create(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: l}})
	}
	for name, acl := range map[string]*v1alpha1.AccessFrom{
		"shared": {NamespaceSelectors: []v1alpha1.NamespaceSelector{{MatchLabels: map[string]string{"team": "apps"}}}},
		"closed": nil,
	} {
		create(ctx, t, c, &v1alpha1.ImageRepository{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "images"},
			Spec:       v1alpha1.ImageRepositorySpec{Image: reg.Ref("team/app", ""), Interval: metav1.Duration{Duration: time.Hour}, AccessFrom: acl},
		})
	}
	policy := func(ns, name, repo string) {
		create(ctx, t, c, &v1alpha1.ImagePolicy{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1alpha1.ImagePolicySpec{
				ImageRepositoryRef: v1alpha1.NamespacedObjectReference{Name: repo, Namespace: "images"},
				Policy:             v1alpha1.ImagePolicyChoice{SemVer: &v1alpha1.SemVerPolicy{Range: ">=1.0.0"}},
			},
		})
	}
	policy("apps", "allowed", "shared")
	policy("other", "unlabelled", "shared")
	policy("apps", "closed", "closed")
	policy("images", "local", "closed") // same namespace: no accessFrom needed

	waitReady := func(ns, name string) *v1alpha1.ImagePolicy {
		t.Helper()
		var p v1alpha1.ImagePolicy
		waitFor(ctx, t, "the Ready condition of ImagePolicy "+ns+"/"+name, func() bool {
			if c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &p) != nil {
				return false
			}
			cond := apimeta.FindStatusCondition(p.Status.Conditions, ReadyCondition)
			return cond != nil && cond.Status != metav1.ConditionUnknown
		})
		return &p
	}
	tests := []struct {
		ns, name      string
		wantInMessage string // of Ready=False with AccessDenied; "": selects 1.0.0
	}{
		{ns: "apps", name: "allowed"},
		{ns: "images", name: "local"},
		{ns: "other", name: "unlabelled", wantInMessage: "ImageRepository images/shared cannot be accessed from namespace other: its spec.accessFrom.namespaceSelectors match no label"},
		{ns: "apps", name: "closed", wantInMessage: "ImageRepository images/closed cannot be accessed from namespace apps: it has no spec.accessFrom"},
	}
	for _, tc := range tests {
		t.Run(tc.ns+"/"+tc.name, func(t *testing.T) {
			p := waitReady(tc.ns, tc.name)
			cond := apimeta.FindStatusCondition(p.Status.Conditions, ReadyCondition)
			if tc.wantInMessage == "" {
				if cond.Status != metav1.ConditionTrue || p.Status.LatestRef == nil || p.Status.LatestRef.Tag != "1.0.0" {
					t.Errorf("Ready = %s %q, latestRef %+v; want 1.0.0", cond.Status, cond.Message, p.Status.LatestRef)
				}
				return
			}
			if cond.Status != metav1.ConditionFalse || cond.Reason != ReasonAccessDenied || !strings.Contains(cond.Message, tc.wantInMessage) {
				t.Errorf("Ready = %s %s %q, want False AccessDenied with %q", cond.Status, cond.Reason, cond.Message, tc.wantInMessage)
			}
		})
	}

	// The label admits the policy of namespace other, from the next sync
	// (namespaces are not watched): the repository's new accessFrom makes
	// one.
	var ns corev1.Namespace
	if err := c.Get(ctx, client.ObjectKey{Name: "other"}, &ns); err != nil {
		t.Fatal(err)
	}
	ns.Labels = map[string]string{"team": "apps"}
	if err := c.Update(ctx, &ns); err != nil {
		t.Fatal(err)
	}
	var shared v1alpha1.ImageRepository
	if err := c.Get(ctx, client.ObjectKey{Namespace: "images", Name: "shared"}, &shared); err != nil {
		t.Fatal(err)
	}
	shared.Spec.AccessFrom.NamespaceSelectors = append(shared.Spec.AccessFrom.NamespaceSelectors, v1alpha1.NamespaceSelector{MatchLabels: map[string]string{"team": "other"}})
	if err := c.Update(ctx, &shared); err != nil {
		t.Fatal(err)
	}
	var p v1alpha1.ImagePolicy
	waitFor(ctx, t, "the labelled namespace's policy to select", func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: "other", Name: "unlabelled"}, &p) == nil && p.Status.LatestRef != nil &&
			apimeta.IsStatusConditionTrue(p.Status.Conditions, ReadyCondition)
	})
}
