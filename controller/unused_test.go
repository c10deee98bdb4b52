package controller

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// TestImageRepositoryWithoutPolicy: an ImageRepository that no ImagePolicy
// refers to is Ready with NoPolicyMessage and no lastScanResult (its tags
// were not listed: not "found 0 tags"); once a policy refers to it, its
// scan lists them.
func TestImageRepositoryWithoutPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver")
	}
	kube := testenv.StartKube(t, NewScheme(), filepath.Join("..", "config", "crd"))
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	c := kube.Client

	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	reg.PushImage(t, "team/app", "1.0.0", testenv.ImageOptions{})
	reg.PushImage(t, "team/app", "1.1.0", testenv.ImageOptions{})
	logger := slog.New(slog.DiscardHandler)
	rc, err := registry.New(registry.WithTransport(testenv.LoopbackTransport()), registry.WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	startManager(ctx, t, kube, &automation.Runner{Scanner: &automation.Scanner{Registry: rc}, StateDir: state, Logger: logger}, logger)

	key := client.ObjectKey{Namespace: "default", Name: "app"}
	create(ctx, t, c, &v1alpha1.ImageRepository{
		ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace},
		Spec:       v1alpha1.ImageRepositorySpec{Image: reg.Host + "/team/app", Insecure: true, Interval: metav1.Duration{Duration: time.Hour}},
	})
	var repo v1alpha1.ImageRepository
	ready := func() *metav1.Condition {
		if c.Get(ctx, key, &repo) != nil {
			return nil
		}
		return apimeta.FindStatusCondition(repo.Status.Conditions, ReadyCondition)
	}
	waitFor(ctx, t, "the Ready condition of the ImageRepository without policy", func() bool {
		cond := ready()
		return cond != nil && cond.Status != metav1.ConditionUnknown
	})
	if cond := ready(); cond.Status != metav1.ConditionTrue || cond.Message != NoPolicyMessage || repo.Status.LastScanResult != nil {
		t.Fatalf("without a policy: Ready = %s %q, lastScanResult %+v; want True %q and none", cond.Status, cond.Message, repo.Status.LastScanResult, NoPolicyMessage)
	}

	create(ctx, t, c, &v1alpha1.ImagePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace},
		Spec: v1alpha1.ImagePolicySpec{
			ImageRepositoryRef: v1alpha1.NamespacedObjectReference{Name: key.Name},
			Policy:             v1alpha1.ImagePolicyChoice{SemVer: &v1alpha1.SemVerPolicy{Range: ">=1.0.0"}},
		},
	})
	waitFor(ctx, t, "the ImageRepository's scan for its new policy", func() bool {
		cond := ready()
		return cond != nil && cond.Message != NoPolicyMessage && repo.Status.LastScanResult != nil
	})
	if cond := ready(); cond.Status != metav1.ConditionTrue || repo.Status.LastScanResult.TagCount != 2 {
		t.Errorf("with a policy: Ready = %s %q, lastScanResult %+v; want True and 2 tags", cond.Status, cond.Message, repo.Status.LastScanResult)
	}
}
