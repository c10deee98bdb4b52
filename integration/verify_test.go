package integration

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// TestVerifyEndToEnd: a policy with spec.verify selects the newest tag whose
// digest carries a signature by the key in its secretRef (found as the .sig
// tag or as an OCI 1.1 referrer), through hoist scan and hoist run --once. A
// newer unsigned tag and a newer tag signed by another key are not
// selected, --explain names them, and a rescan verifies only new digests.
func TestVerifyEndToEnd(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	key, other := testenv.NewCosignKey(t), testenv.NewCosignKey(t)
	d100 := reg.PushImage(t, "apps/web", "1.0.0", testenv.ImageOptions{})
	d110 := reg.PushImage(t, "apps/web", "1.1.0", testenv.ImageOptions{})
	d120 := reg.PushImage(t, "apps/web", "1.2.0", testenv.ImageOptions{})
	d130 := reg.PushImage(t, "apps/web", "1.3.0", testenv.ImageOptions{})
	reg.Sign(t, "apps/web", d100, key, testenv.SignatureTag)
	reg.Sign(t, "apps/web", d110, key, testenv.SignatureReferrer)
	// 1.2.0 is unsigned; 1.3.0 is signed by another key.
	reg.Sign(t, "apps/web", d130, other, testenv.SignatureTag)

	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{Username: "hoist", Password: "s3cret-pw"})
	bare := gitSrv.RepoDir("fleet.git")
	testenv.GitInitBare(t, bare, "main")
	testenv.GitCommitFiles(t, bare, "main", "initial", map[string]string{
		"apps/web.yaml": fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: apps}
spec:
  template:
    spec:
      containers:
        - name: app
          image: %s/apps/web:1.0.0 # {"$imagepolicy": "apps:web"}
`, reg.Host),
	})

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	secrets := filepath.Join(dir, "secrets")
	key.WriteSecret(t, secrets, "cosign-key")
	writeFile(t, filepath.Join(secrets, "fleet-auth", "username"), "hoist")
	writeFile(t, filepath.Join(secrets, "fleet-auth", "password"), "s3cret-pw")
	writeFile(t, filepath.Join(cfg, "web.yaml"), fmt.Sprintf(`apiVersion: hoist.dev/v1alpha1
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
  policy: {semver: {range: '^1'}}
  verify:
    provider: cosign
    secretRef: {name: cosign-key}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: fleet, namespace: apps}
spec:
  git:
    url: %[2]s
    secretRef: {name: fleet-auth}
    checkout: {ref: {branch: main}}
    commit:
      author: {name: hoist-bot, email: bot@example.com}
    push: {branch: main}
  update: {path: ./apps}
`, reg.Host, gitSrv.RepoURL("fleet.git")))
	env := []string{"HOIST_STATE_DIR=" + filepath.Join(dir, "state"), "HOIST_SECRETS_DIR=" + secrets}

	type verifyJSON struct{ Checked, Verified, Cached int }
	type verdict struct {
		Tag     string `json:"tag"`
		Rank    int    `json:"rank"`
		Dropped string `json:"dropped"`
	}
	scan := func(t *testing.T) (tag string, v verifyJSON, explain []verdict) {
		t.Helper()
		r := hoist(t, env, "scan", "-c", cfg, "-o", "json", "--explain")
		if r.code != 0 {
			t.Fatalf("scan: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		var out struct {
			Policies []struct {
				Tag     string
				Verify  *verifyJSON
				Explain []verdict
			}
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Policies) != 1 || out.Policies[0].Verify == nil {
			t.Fatalf("scan output (%v):\n%s", err, r.stdout)
		}
		p := out.Policies[0]
		return p.Tag, *p.Verify, p.Explain
	}
	sigPath := func(d string) string {
		return "/v2/apps/web/manifests/sha256-" + strings.TrimPrefix(d, "sha256:") + ".sig"
	}

	// First scan: 1.3.0 and 1.2.0 are refused, 1.1.0 (a referrer) is
	// chosen; three digests checked, none from the cache.
	tag, v, explain := scan(t)
	if tag != "1.1.0" {
		t.Errorf("selected %q, want 1.1.0 (the newest tag signed by the key)", tag)
	}
	if diff := cmp.Diff(verifyJSON{Checked: 3, Verified: 1, Cached: 0}, v); diff != "" {
		t.Errorf("first scan, signature checks (-want +got):\n%s", diff)
	}
	wantExplain := []verdict{
		{Tag: "1.0.0", Rank: 2},
		{Tag: "1.1.0", Rank: 1},
		{Tag: "1.2.0", Dropped: "not verified: no cosign signature"},
		{Tag: "1.3.0", Dropped: "not verified: 1 cosign signature, none valid for the key: signature does not verify with the key"},
	}
	var got []verdict
	for _, e := range explain {
		if strings.HasPrefix(e.Tag, "1.") {
			got = append(got, e)
		}
	}
	if diff := cmp.Diff(wantExplain, got); diff != "" {
		t.Errorf("explain (-want +got):\n%s", diff)
	}

	// The table form names the unsigned tags too.
	r := hoist(t, env, "scan", "-c", cfg, "--explain")
	for _, want := range []string{"1.2.0", "not verified: no cosign signature", "signatures: 3 checked, 1 verified, 1 from the cache"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("scan --explain table lacks %q:\n%s", want, r.stdout)
		}
	}

	// A rescan takes the verified digest from the cache (no request for
	// its signatures) and asks again about the others, which may have
	// been signed since.
	reg.Faults.ResetLog()
	tag, v, _ = scan(t)
	if diff := cmp.Diff(verifyJSON{Checked: 3, Verified: 1, Cached: 1}, v); tag != "1.1.0" || diff != "" {
		t.Errorf("rescan: selected %q, signature checks (-want +got):\n%s", tag, diff)
	}
	if n := reg.Faults.Seen("GET", "/v2/apps/web/referrers/"+d110); n != 0 {
		t.Errorf("rescan asked for the referrers of the verified digest %d times, want 0", n)
	}
	if n := reg.Faults.Seen("GET", sigPath(d120)); n != 1 {
		t.Errorf("rescan asked for the .sig tag of the unsigned digest %d times, want 1", n)
	}

	// hoist run --once writes the verified tag to Git.
	r = hoist(t, env, "run", "--once", "-c", cfg, "-o", "json")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	file := testenv.GitCLI(t, bare, "show", "main:apps/web.yaml")
	if !strings.Contains(file, reg.Host+"/apps/web:1.1.0 ") {
		t.Errorf("after run --once, apps/web.yaml:\n%s", file)
	}

	// Once 1.2.0 is signed with the key, the next run takes it.
	reg.Sign(t, "apps/web", d120, key, testenv.SignatureTag)
	r = hoist(t, env, "run", "--once", "-c", cfg, "-o", "json")
	if r.code != 0 {
		t.Fatalf("second run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	file = testenv.GitCLI(t, bare, "show", "main:apps/web.yaml")
	if !strings.Contains(file, reg.Host+"/apps/web:1.2.0 ") {
		t.Errorf("after signing 1.2.0 and running again, apps/web.yaml:\n%s", file)
	}
}

// TestVerifyBundleEndToEnd: signatures in cosign v3's Sigstore bundle form
// (an OCI referrer holding a DSSE envelope over an in-toto statement) count
// as the classic ones do. hoist scan selects the newest tag whose bundle the
// key signed for its digest; --explain names the tags refused (unsigned,
// another key, a bundle naming another digest), and a rescan takes the
// verified digest from the cache.
func TestVerifyBundleEndToEnd(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	key, other := testenv.NewCosignKey(t), testenv.NewCosignKey(t)
	d100 := reg.PushImage(t, "apps/api", "1.0.0", testenv.ImageOptions{})
	d110 := reg.PushImage(t, "apps/api", "1.1.0", testenv.ImageOptions{})
	reg.PushImage(t, "apps/api", "1.2.0", testenv.ImageOptions{})
	d130 := reg.PushImage(t, "apps/api", "1.3.0", testenv.ImageOptions{})
	d140 := reg.PushImage(t, "apps/api", "1.4.0", testenv.ImageOptions{})
	reg.Sign(t, "apps/api", d100, key, testenv.SignatureTag)
	reg.SignBundle(t, "apps/api", d110, key, testenv.BundleOptions{})
	// 1.2.0 is unsigned; 1.3.0's bundle is by another key; 1.4.0's bundle
	// is by the key but names 1.1.0's digest.
	reg.SignBundle(t, "apps/api", d130, other, testenv.BundleOptions{})
	reg.SignBundle(t, "apps/api", d140, key, testenv.BundleOptions{Subject: d110})

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	secrets := filepath.Join(dir, "secrets")
	key.WriteSecret(t, secrets, "cosign-key")
	writeFile(t, filepath.Join(cfg, "api.yaml"), fmt.Sprintf(`apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: api, namespace: apps}
spec:
  image: %s/apps/api
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: api, namespace: apps}
spec:
  imageRepositoryRef: {name: api}
  policy: {semver: {range: '^1'}}
  verify:
    provider: cosign
    secretRef: {name: cosign-key}
`, reg.Host))
	env := []string{"HOIST_STATE_DIR=" + filepath.Join(dir, "state"), "HOIST_SECRETS_DIR=" + secrets}

	type verifyJSON struct{ Checked, Verified, Cached int }
	type verdict struct {
		Tag     string `json:"tag"`
		Rank    int    `json:"rank"`
		Dropped string `json:"dropped"`
	}
	scan := func(t *testing.T) (tag string, v verifyJSON, explain []verdict) {
		t.Helper()
		r := hoist(t, env, "scan", "-c", cfg, "-o", "json", "--explain")
		if r.code != 0 {
			t.Fatalf("scan: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		var out struct {
			Policies []struct {
				Tag     string
				Verify  *verifyJSON
				Explain []verdict
			}
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Policies) != 1 || out.Policies[0].Verify == nil {
			t.Fatalf("scan output (%v):\n%s", err, r.stdout)
		}
		p := out.Policies[0]
		var semver []verdict
		for _, e := range p.Explain {
			if strings.HasPrefix(e.Tag, "1.") {
				semver = append(semver, e)
			}
		}
		return p.Tag, *p.Verify, semver
	}

	tag, v, explain := scan(t)
	if tag != "1.1.0" {
		t.Errorf("selected %q, want 1.1.0 (the newest tag whose bundle the key signed)", tag)
	}
	if diff := cmp.Diff(verifyJSON{Checked: 4, Verified: 1}, v); diff != "" {
		t.Errorf("signature checks (-want +got):\n%s", diff)
	}
	want := []verdict{
		{Tag: "1.0.0", Rank: 2},
		{Tag: "1.1.0", Rank: 1},
		{Tag: "1.2.0", Dropped: "not verified: no cosign signature"},
		{Tag: "1.3.0", Dropped: "not verified: 1 cosign signature, none valid for the key: Sigstore bundle's signature does not verify with the key"},
		{Tag: "1.4.0", Dropped: "not verified: 1 cosign signature, none valid for the key: Sigstore bundle signs " + d110 + ", not this digest"},
	}
	if diff := cmp.Diff(want, explain); diff != "" {
		t.Errorf("explain (-want +got):\n%s", diff)
	}
	r := hoist(t, env, "scan", "-c", cfg, "--explain")
	for _, want := range []string{"1.4.0", "Sigstore bundle signs " + d110 + ", not this digest", "1.3.0", "Sigstore bundle's signature does not verify with the key"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("scan --explain table lacks %q:\n%s", want, r.stdout)
		}
	}

	// The rescan takes 1.1.0's verification from the cache: no request for
	// its referrers (Distribution has no referrers API: the referrers tag).
	reg.Faults.ResetLog()
	tag, v, _ = scan(t)
	if diff := cmp.Diff(verifyJSON{Checked: 4, Verified: 1, Cached: 1}, v); tag != "1.1.0" || diff != "" {
		t.Errorf("rescan: selected %q, signature checks (-want +got):\n%s", tag, diff)
	}
	if n := reg.Faults.Seen("GET", "/v2/apps/api/manifests/sha256-"+strings.TrimPrefix(d110, "sha256:")); n != 0 {
		t.Errorf("rescan asked for the referrers of the verified digest %d times, want 0", n)
	}
}
