package automation

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/writeback"
)

// TestArgoBranchSHA256: .SHA256 of a branch template is what Argo CD Image
// Updater computes for the same changes (its TemplateBranchName): the hex
// SHA-256 of "NAME-OLDTAG-NEWTAG," per changed image, in the order of the
// Application's images, NAME without the registry (its ImageName), OLDTAG
// the tag the Application runs, and a digest policy's tags its digests.
// Each want was computed apart from this code, from the string in the
// comment: printf '%s' 'STRING' | sha256sum.
func TestArgoBranchSHA256(t *testing.T) {
	const (
		d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
		d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	)
	web := config.ArgoCDImage{Alias: "web", Image: "ghcr.io/acme/web", Policy: "argocd:app-web"}
	nginx := config.ArgoCDImage{Alias: "proxy", Image: "docker.io/library/nginx", Policy: "argocd:app-proxy"}
	tool := config.ArgoCDImage{Alias: "tool", Image: "ghcr.io/acme/tool", Policy: "argocd:app-tool"}
	change := func(im config.ArgoCDImage, old, oldTag, newTag string) writeback.Change {
		return writeback.Change{Policy: im.Policy, Old: old, Image: im.Image, OldTag: oldTag, NewTag: newTag}
	}
	for name, tc := range map[string]struct {
		ac      config.ArgoCD
		changes []writeback.Change
		digest  map[string]bool
		sel     map[string]string
		want    []argoBranchImage
		wantSHA string
	}{
		// "acme/web-1.0.0-1.1.0,"
		"one image, the tag of the file": {
			ac:      config.ArgoCD{Images: []config.ArgoCDImage{web}},
			changes: []writeback.Change{change(web, "1.0.0", "1.0.0", "1.1.0")},
			want:    []argoBranchImage{{Name: "acme/web", Alias: "web", OldTag: "1.0.0", NewTag: "1.1.0"}},
			wantSHA: "d00ccbdfe4e2eba8269bb117a401092c6f82d512222993ed2aff1ff0b83da92d",
		},
		// The same string: the old tag is the one running, not the
		// file's (an .argocd-source file written for the first time).
		"old tag from status.summary.images": {
			ac:      config.ArgoCD{Images: []config.ArgoCDImage{web}, HasStatus: true, Running: []string{"ghcr.io/acme/web:1.0.0"}},
			changes: []writeback.Change{change(web, "", "", "1.1.0")},
			want:    []argoBranchImage{{Name: "acme/web", Alias: "web", OldTag: "1.0.0", NewTag: "1.1.0"}},
			wantSHA: "d00ccbdfe4e2eba8269bb117a401092c6f82d512222993ed2aff1ff0b83da92d",
		},
		// "acme/web-1.0.0-1.1.0,nginx-1.25.0-1.26.0,": the images'
		// order, not the changes', and Docker Hub's library/ dropped.
		"two images in the order of the Application": {
			ac: config.ArgoCD{Images: []config.ArgoCDImage{web, nginx}},
			changes: []writeback.Change{
				change(nginx, "1.25.0", "1.25.0", "1.26.0"),
				change(web, "1.0.0", "1.0.0", "1.1.0"),
				change(web, "ghcr.io/acme/web", "", ""), // the name parameter of the same image
			},
			want: []argoBranchImage{
				{Name: "acme/web", Alias: "web", OldTag: "1.0.0", NewTag: "1.1.0"},
				{Name: "nginx", Alias: "proxy", OldTag: "1.25.0", NewTag: "1.26.0"},
			},
			wantSHA: "ed06c9b6b17bbbab4ae0f6c10013ac6bec09290267205043e619e394e35f9325",
		},
		// "acme/tool-sha256:1111…-sha256:2222…,": a digest policy's
		// tags print as their digests.
		"digest policy": {
			ac:      config.ArgoCD{Images: []config.ArgoCDImage{tool}},
			changes: []writeback.Change{change(tool, "latest@"+d1, "latest", "latest")},
			digest:  map[string]bool{tool.Policy: true},
			sel:     map[string]string{tool.Policy: "ghcr.io/acme/tool:latest@" + d2},
			want:    []argoBranchImage{{Name: "acme/tool", Alias: "tool", OldTag: d1, NewTag: d2}},
			wantSHA: "49b624a108d06c10325dd24f91986b55c8c4f02732790810ab70d2fcf7060b53",
		},
		// "": no change, the hash of nothing.
		"no change": {
			ac:      config.ArgoCD{Images: []config.ArgoCDImage{web}},
			wantSHA: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		},
	} {
		t.Run(name, func(t *testing.T) {
			got := argoBranchImages(&tc.ac, tc.changes, tc.digest, tc.sel)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("images (-want +got):\n%s", diff)
			}
			if sum := argoBranchSHA256(got); sum != tc.wantSHA {
				t.Errorf("SHA256 = %s, want %s", sum, tc.wantSHA)
			}
		})
	}
}

func TestArgoImageName(t *testing.T) {
	for image, want := range map[string]string{
		"ghcr.io/acme/web":        "acme/web",
		"127.0.0.1:5000/apps/web": "apps/web",
		"localhost/web":           "web",
		"nginx":                   "nginx",
		"docker.io/library/nginx": "nginx",
		"library/nginx":           "library/nginx",
		"bitnami/nginx":           "bitnami/nginx",
		"docker.io/bitnami/nginx": "bitnami/nginx",
	} {
		t.Run(image, func(t *testing.T) {
			if got := ArgoImageName(image); got != want {
				t.Errorf("ArgoImageName(%q) = %q, want %q", image, got, want)
			}
		})
	}
}
