package integration

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/internal/testenv"
)

func TestScanEndToEnd(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	base := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	d := reg.PushImage(t, "apps/podinfo", "6.0.0", testenv.ImageOptions{Created: base})
	reg.Tag(t, "apps/podinfo", d, "6.1.0", "v6.2.0", "7.0.0", "6.3.0-rc.1", "latest", "sha256-abc.sig")
	reg.PushImage(t, "apps/web", "main-1", testenv.ImageOptions{Created: base.Add(time.Hour)})
	reg.PushImage(t, "apps/web", "main-2", testenv.ImageOptions{Created: base.Add(2 * time.Hour)})
	reg.PushImage(t, "apps/web", "main-0", testenv.ImageOptions{Created: base})

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "policies.yaml"), fmt.Sprintf(`
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {name: podinfo, namespace: apps}
spec:
  image: %[1]s/apps/podinfo
  interval: 5m
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: podinfo, namespace: apps}
spec:
  imageRepositoryRef: {name: podinfo}
  policy:
    semver: {range: '^6'}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: podinfo-pre, namespace: apps}
spec:
  imageRepositoryRef: {name: podinfo}
  policy:
    semver: {range: '>=6.0.0-0 <7'}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: not-ours}
`, reg.Host))
	writeFile(t, filepath.Join(dir, "web", "web.yaml"), fmt.Sprintf(`
apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: web, namespace: apps}
spec:
  image: %[1]s/apps/web
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: web, namespace: apps}
spec:
  imageRepositoryRef: {name: web}
  filterTags: {glob: 'main-*'}
  policy:
    newestBuild: {}
  digestReflectionPolicy: Always
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: none, namespace: apps}
spec:
  imageRepositoryRef: {name: web}
  policy:
    semver: {range: '>=1'}
`, reg.Host))

	r := hoist(t, nil, "scan", "-c", dir, "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (one policy has no match)\nstderr: %s", r.code, r.stderr)
	}
	var got struct {
		Policies []struct {
			Namespace, Name, Image, Tag, Digest, Ref, Error string
		} `json:"policies"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, r.stdout)
	}
	type row struct{ Name, Tag, Ref string }
	var rows []row
	for _, p := range got.Policies {
		ref := p.Ref
		if p.Digest != "" {
			if !strings.HasSuffix(ref, "@"+p.Digest) || !strings.HasPrefix(p.Digest, "sha256:") {
				t.Errorf("%s: ref %q does not carry digest %q", p.Name, ref, p.Digest)
			}
			ref = strings.TrimSuffix(ref, "@"+p.Digest) + "@DIGEST"
		}
		if p.Error != "" {
			ref = "error: " + p.Error
			if strings.Contains(p.Error, "no tag matches") {
				ref = "error: no tag matches"
			}
		}
		rows = append(rows, row{p.Name, p.Tag, ref})
	}
	host := reg.Host
	want := []row{
		{"podinfo", "v6.2.0", host + "/apps/podinfo:v6.2.0"},
		{"podinfo-pre", "6.3.0-rc.1", host + "/apps/podinfo:6.3.0-rc.1"},
		{"web", "main-2", host + "/apps/web:main-2@DIGEST"},
		{"none", "", "error: no tag matches"},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("selections (-want +got):\n%s", diff)
	}

	// The table form says the same, and a second run is served from the
	// cache for the facts it already has.
	r = hoist(t, nil, "scan", "-c", dir)
	if !strings.Contains(r.stdout, "main-2") || !strings.Contains(r.stdout, "POLICY") {
		t.Errorf("table output:\n%s", r.stdout)
	}

	// Invalid configuration exits 2 and names file and line.
	writeFile(t, filepath.Join(dir, "bad.yaml"), "apiVersion: hoist.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: bad}\nspec:\n  imageRepositoryRef: {name: nope}\n  policy: {semver: {range: '>>'}}\n")
	r = hoist(t, nil, "scan", "-c", dir)
	if r.code != 2 || !strings.Contains(r.stderr, "bad.yaml:") {
		t.Errorf("bad config: exit %d, stderr %s", r.code, r.stderr)
	}
}
