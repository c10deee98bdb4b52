package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// scanPolicy is one policy of `hoist scan -o json`.
type scanPolicy struct {
	Namespace, Name, Image, Tag, Ref, Error, Warning string
	Stale                                            bool
}

func scanJSON(t *testing.T, r result) scanPolicy {
	t.Helper()
	var got struct {
		Policies []scanPolicy `json:"policies"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got.Policies) != 1 {
		t.Fatalf("scan output is not JSON with one policy (%v):\n%s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return got.Policies[0]
}

func registryPolicies(host, interval string) string {
	return fmt.Sprintf(`apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: app, namespace: apps}
spec:
  image: %s/apps/app
  interval: %s
  secretRef: {name: regcred}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app, namespace: apps}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: '^1'}}
`, host, interval)
}

// TestScanRegistryRefuses runs `hoist scan` after a good scan, with the
// tag list in the cache: a refused password or a deleted repository fails
// the policy with that cause; a registry that is down gets the cached list,
// with a warning in the table, the JSON and on stderr.
func TestScanRegistryRefuses(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{Auth: testenv.AuthToken})
	reg.PushImage(t, "apps/app", "1.0.0", testenv.ImageOptions{})
	reg.PushImage(t, "apps/gone", "1.0.0", testenv.ImageOptions{})
	dir := t.TempDir()
	state := filepath.Join(t.TempDir(), "state")
	secrets := filepath.Join(state, "secrets")
	login := func(password string) {
		testenv.WriteDockerConfigSecret(t, secrets, "regcred", testenv.DockerConfig{
			Auths: map[string]testenv.DockerAuth{reg.Host: {Username: reg.Username, Password: password}},
		})
	}
	login(reg.Password)
	writeFile(t, filepath.Join(dir, "policies.yaml"), registryPolicies(reg.Host, "5m"))
	env := []string{"HOIST_STATE_DIR=" + state}
	scan := func(args ...string) result {
		return hoist(t, env, append([]string{"scan", "-c", dir}, args...)...)
	}

	r := scan("-o", "json")
	if p := scanJSON(t, r); r.code != 0 || p.Tag != "1.0.0" || p.Stale || p.Warning != "" {
		t.Fatalf("good scan: exit %d, %+v\nstderr: %s", r.code, p, r.stderr)
	}

	t.Run("wrong password", func(t *testing.T) {
		login(reg.Password + "-rotated")
		defer login(reg.Password)
		r := scan("-o", "json")
		p := scanJSON(t, r)
		if r.code != 1 || p.Tag != "" || p.Stale || p.Warning != "" || !strings.Contains(p.Error, "unauthorized") {
			t.Errorf("exit %d, %+v; want exit 1 and the refusal, not the cached tag\nstderr: %s", r.code, p, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, reg.Password) {
			t.Error("the password is in the output")
		}
		r = scan()
		if r.code != 1 || !strings.Contains(r.stdout, "unauthorized") || strings.Contains(r.stdout, "(stale)") {
			t.Errorf("table: exit %d\n%s", r.code, r.stdout)
		}
	})

	t.Run("repository deleted", func(t *testing.T) {
		writeFile(t, filepath.Join(dir, "policies.yaml"), strings.ReplaceAll(registryPolicies(reg.Host, "5m"), "/apps/app", "/apps/gone"))
		defer writeFile(t, filepath.Join(dir, "policies.yaml"), registryPolicies(reg.Host, "5m"))
		if r := scan("-o", "json"); r.code != 0 {
			t.Fatalf("scan of apps/gone before deletion: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		reg.DeleteRepository(t, "apps/gone")
		r := scan("-o", "json")
		p := scanJSON(t, r)
		if r.code != 1 || p.Tag != "" || p.Stale || !strings.Contains(p.Error, "NAME_UNKNOWN") {
			t.Errorf("exit %d, %+v; want exit 1 and NAME_UNKNOWN\nstderr: %s", r.code, p, r.stderr)
		}
	})

	t.Run("registry down", func(t *testing.T) {
		reg.Stop()
		r := scan("-o", "json")
		p := scanJSON(t, r)
		if r.code != 0 || p.Tag != "1.0.0" || !p.Stale || p.Error != "" || !strings.Contains(p.Warning, "connection refused") {
			t.Errorf("exit %d, %+v; want exit 0, the cached tag and the warning\nstderr: %s", r.code, p, r.stderr)
		}
		if lines := warningLines(r.stderr); len(lines) != 1 || !strings.Contains(lines[0], "connection refused") {
			t.Errorf("stderr warnings %q, want one line with the cause\nstderr: %s", lines, r.stderr)
		}
		r = scan()
		header, row, _ := strings.Cut(r.stdout, "\n")
		if r.code != 0 || !strings.HasSuffix(strings.TrimSpace(header), "WARNING") || !strings.Contains(row, "(stale)") || !strings.Contains(row, "connection refused") {
			t.Errorf("table: exit %d\n%s", r.code, r.stdout)
		}
	})
}

func warningLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "warning: ") {
			out = append(out, l)
		}
	}
	return out
}

// TestServiceStaleTagList runs the service against a registry that stops:
// /status shows the policy's warning with the cause and /metrics sets
// hoist_registry_stale; the series goes when the repository leaves the
// configuration.
func TestServiceStaleTagList(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end service test")
	}
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{Auth: testenv.AuthToken})
	reg.PushImage(t, "apps/app", "1.0.0", testenv.ImageOptions{})
	dir := t.TempDir()
	state := filepath.Join(t.TempDir(), "state")
	testenv.WriteDockerConfigSecret(t, filepath.Join(state, "secrets"), "regcred", testenv.DockerConfig{
		Auths: map[string]testenv.DockerAuth{reg.Host: {Username: reg.Username, Password: reg.Password}},
	})
	config := filepath.Join(dir, "policies.yaml")
	writeFile(t, config, registryPolicies(reg.Host, "1s"))
	addr := freeAddr(t)
	svc := startHoist(t, addr, []string{"HOIST_STATE_DIR=" + state}, "-c", dir, "--startup-spread", "0")

	type policyStatus struct {
		Namespace, Name, Ref, Error, Warning string
		ScannedAt                            *time.Time
	}
	status := func() []policyStatus {
		t.Helper()
		var st struct{ Policies []policyStatus }
		if err := json.Unmarshal([]byte(get(t, "http://"+addr+"/status")), &st); err != nil {
			t.Fatal(err)
		}
		return st.Policies
	}
	waitStatus := func(what string, ok func([]policyStatus) bool) []policyStatus {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			ps := status()
			if ok(ps) {
				return ps
			}
			if time.Now().After(deadline) {
				t.Fatalf("/status never showed %s: %+v", what, ps)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	staleSeries := func() string {
		t.Helper()
		for _, l := range strings.Split(get(t, "http://"+addr+"/metrics"), "\n") {
			if strings.HasPrefix(l, `hoist_registry_stale{repository="apps/app"}`) {
				return l
			}
		}
		return ""
	}

	waitStatus("the selection", func(ps []policyStatus) bool {
		return len(ps) == 1 && strings.HasSuffix(ps[0].Ref, ":1.0.0") && ps[0].ScannedAt != nil
	})
	if got, want := staleSeries(), `hoist_registry_stale{repository="apps/app"} 0`; got != want {
		t.Errorf("metric with the registry up: %q, want %q", got, want)
	}

	reg.Stop()
	ps := waitStatus("a warning", func(ps []policyStatus) bool { return len(ps) == 1 && ps[0].Warning != "" })
	if p := ps[0]; !strings.Contains(p.Warning, "connection refused") || p.Error != "" || !strings.HasSuffix(p.Ref, ":1.0.0") {
		t.Errorf("status with the registry down: %+v", p)
	}
	if got, want := staleSeries(), `hoist_registry_stale{repository="apps/app"} 1`; got != want {
		t.Errorf("metric with the registry down: %q, want %q", got, want)
	}
	svc.waitLog("using the cached tag list", 10*time.Second)

	// The repository leaves the configuration: its series goes.
	writeFile(t, config, "apiVersion: hoist.dev/v1alpha1\nkind: ImageRepository\nmetadata: {name: other, namespace: apps}\nspec: {image: "+reg.Host+"/apps/other, interval: 1h}\n")
	waitStatus("the policy removed", func(ps []policyStatus) bool { return len(ps) == 0 })
	if got := staleSeries(); got != "" {
		t.Errorf("metric after the repository left the configuration: %q, want none", got)
	}
	svc.stop()
}

func get(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return string(body)
}
