package controller

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hoist-dev/hoist/automation/state"
	"github.com/hoist-dev/hoist/config/v1alpha1"
)

func TestSelectionRecord(t *testing.T) {
	at := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	ready := []metav1.Condition{{Type: ReadyCondition, Status: metav1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)}}
	for name, tc := range map[string]struct {
		status v1alpha1.ImagePolicyStatus
		want   state.SelectionRecord
		ok     bool
	}{
		"none": {},
		"tag": {
			status: v1alpha1.ImagePolicyStatus{LatestRef: &v1alpha1.ImageRef{Name: "ghcr.io/org/web", Tag: "1.2.0"}, Conditions: ready},
			want:   state.SelectionRecord{Ref: "ghcr.io/org/web:1.2.0", Tag: "1.2.0", At: at}, ok: true,
		},
		"digest written": {
			status: v1alpha1.ImagePolicyStatus{LatestRef: &v1alpha1.ImageRef{Name: "ghcr.io/org/web", Tag: "1.2.0", Digest: "sha256:abc"}},
			want:   state.SelectionRecord{Ref: "ghcr.io/org/web:1.2.0@sha256:abc", Tag: "1.2.0", Digest: "sha256:abc"}, ok: true,
		},
		"no tag": {status: v1alpha1.ImagePolicyStatus{LatestRef: &v1alpha1.ImageRef{Name: "ghcr.io/org/web"}}},
	} {
		t.Run(name, func(t *testing.T) {
			got, ok := selectionRecord(&v1alpha1.ImagePolicy{Status: tc.status})
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v", ok, tc.ok)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPushRecord(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC))
	git := func(push string) *v1alpha1.GitSpec {
		g := &v1alpha1.GitSpec{Checkout: &v1alpha1.GitCheckoutSpec{Reference: v1alpha1.GitRepositoryRef{Branch: "main"}}}
		if push != "" {
			g.Push = &v1alpha1.PushSpec{Branch: push}
		}
		return g
	}
	for name, tc := range map[string]struct {
		a    v1alpha1.ImageUpdateAutomation
		want state.PushRecord
		ok   bool
	}{
		"never pushed": {a: v1alpha1.ImageUpdateAutomation{Spec: v1alpha1.ImageUpdateAutomationSpec{Git: git("hoist/prod")}}},
		"push branch": {
			a: v1alpha1.ImageUpdateAutomation{
				Spec:   v1alpha1.ImageUpdateAutomationSpec{Git: git("hoist/prod")},
				Status: v1alpha1.ImageUpdateAutomationStatus{LastPushCommit: "c0ffee", LastPushTime: &at},
			},
			want: state.PushRecord{Commit: "c0ffee", Branch: "hoist/prod", At: at.Time}, ok: true,
		},
		"checkout branch": {
			a: v1alpha1.ImageUpdateAutomation{
				Spec:   v1alpha1.ImageUpdateAutomationSpec{Git: git("")},
				Status: v1alpha1.ImageUpdateAutomationStatus{LastPushCommit: "c0ffee", LastPushTime: &at},
			},
			want: state.PushRecord{Commit: "c0ffee", Branch: "main", At: at.Time}, ok: true,
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, ok := pushRecord(&tc.a)
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v", ok, tc.ok)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
