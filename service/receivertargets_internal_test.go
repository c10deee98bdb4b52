package service

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/registry/webhook"
)

// TestReceiverTargetsSelected: a request's images pick the receiver's
// repositories through the index as comparing each image would: each
// repository once, in the receiver's order, whatever the order and the
// repeats of the images.
func TestReceiverTargetsSelected(t *testing.T) {
	repo := func(name, image string) *config.Repository {
		r := &v1alpha1.ImageRepository{}
		r.Name, r.Spec.Image = name, image
		return &config.Repository{ImageRepository: r}
	}
	repos := []*config.Repository{
		repo("web", "acme/web"),
		repo("api", "ghcr.io/acme/api"),
		repo("web-mirror", "docker.io/acme/web"),
		repo("db", "quay.io/acme/db"),
	}
	targets := &receiverTargets{repos: repos, byImage: map[string][]*config.Repository{}}
	for _, r := range repos {
		k, _ := webhook.Key(r.Spec.Image)
		targets.byImage[k] = append(targets.byImage[k], r)
	}
	names := func(rs []*config.Repository) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		images []string
		want   []string
	}{
		{"none named: all", nil, []string{"web", "api", "web-mirror", "db"}},
		{"one image, two repositories", []string{"index.docker.io/acme/web:1.0"}, []string{"web", "web-mirror"}},
		{"several images, receiver's order", []string{"quay.io/acme/db", "ghcr.io/acme/api@sha256:0f"}, []string{"api", "db"}},
		{"repeats once", []string{"acme/web", "docker.io/acme/web", "quay.io/acme/db"}, []string{"web", "web-mirror", "db"}},
		{"unknown and invalid", []string{"quay.io/other/x", "Not An Image!"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := names(targets.selected(tc.images))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("selected(%q) (-want +got):\n%s", tc.images, diff)
			}
			targets.each = true
			defer func() { targets.each = false }()
			if diff := cmp.Diff(tc.want, names(targets.selected(tc.images))); diff != "" {
				t.Errorf("compared each: selected(%q) (-want +got):\n%s", tc.images, diff)
			}
		})
	}
}
