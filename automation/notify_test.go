package automation

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/notify"
	"github.com/hoist-dev/hoist/writeback"
)

func TestRunEvents(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	set := &config.Set{Policies: []*config.Policy{{ImagePolicy: &v1alpha1.ImagePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps", Labels: map[string]string{"team": "web"}},
	}}}}
	a := &config.Automation{ImageUpdateAutomation: &v1alpha1.ImageUpdateAutomation{
		ObjectMeta: metav1.ObjectMeta{Name: "prod", Namespace: "apps", Labels: map[string]string{"env": "prod"}},
	}}
	changes := []writeback.Change{
		{Policy: "apps:web", Setter: "apps:web", Old: "r/web:1.0.0", New: "r/web:1.1.0"},
		{Policy: "apps:web", Setter: "apps:web:tag", Old: "1.0.0", New: "1.1.0"},
		{Policy: "inline:r/api:1#semver:^1", Old: "r/api:1", New: "r/api:1.1"},
	}
	auto := notify.ObjectReference{Kind: "ImageUpdateAutomation", Namespace: "apps", Name: "prod", APIVersion: v1alpha1.APIVersion}
	rev := map[string]string{notify.MetaRevision: "main@sha1:" + sha}
	tests := map[string]struct {
		res  RunResult
		want []notify.Event
	}{
		"pushed": {
			res: RunResult{Namespace: "apps", Name: "prod", Pushed: true, Commit: sha, Branch: "main", Changes: changes},
			want: []notify.Event{
				{InvolvedObject: notify.ObjectReference{Kind: "ImagePolicy", Namespace: "apps", Name: "web", APIVersion: v1alpha1.APIVersion},
					Labels: map[string]string{"team": "web"}, Severity: "info", Reason: notify.ReasonNewSelection,
					Message: "apps:web: r/web:1.1.0 written (was r/web:1.0.0) by apps/prod", Metadata: rev},
				{InvolvedObject: auto, Labels: map[string]string{"env": "prod"}, Severity: "info", Reason: notify.ReasonPushed,
					Message: "pushed 0123456789ab to main: 3 changes", Metadata: rev},
			},
		},
		"pull request": {
			res: RunResult{Namespace: "apps", Name: "prod", PullRequest: "https://forge/pr/1", Branch: "hoist/prod"},
			want: []notify.Event{{InvolvedObject: auto, Labels: map[string]string{"env": "prod"}, Severity: "info", Reason: notify.ReasonPullRequest,
				Message: "pull request https://forge/pr/1 from hoist/prod", Metadata: map[string]string{"url": "https://forge/pr/1"}}},
		},
		"failed": {
			res: RunResult{Namespace: "apps", Name: "prod", Err: errors.New("automation apps/prod: cloning: refused")},
			want: []notify.Event{{InvolvedObject: auto, Labels: map[string]string{"env": "prod"}, Severity: "error", Reason: notify.ReasonFailed,
				Message: "automation apps/prod: cloning: refused"}},
		},
		"targets failed": {
			res: RunResult{Namespace: "apps", Name: "prod", NothingToDo: true, Errors: []*writeback.FileError{
				{File: "a.yaml", Line: 3, Policy: "apps:none", Err: writeback.ErrUnknownPolicy},
			}},
			want: []notify.Event{{InvolvedObject: auto, Labels: map[string]string{"env": "prod"}, Severity: "error", Reason: notify.ReasonFailed,
				Message: "1 target failed:\na.yaml:3: policy \"apps:none\": unknown policy"}},
		},
		"dry run": {res: RunResult{Namespace: "apps", Name: "prod", DryRun: true, Changes: changes}},
		"nothing": {res: RunResult{Namespace: "apps", Name: "prod", NothingToDo: true}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := RunEvents(set, a, tc.res)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}
