//go:build deploy

package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/controller"
	"github.com/hoist-dev/hoist/internal/testenv"
)

// The tests of deploy/ (make test-deploy): the Helm chart and the Kustomize
// overlays render, every object they render is accepted by the real
// kube-apiserver (server-side dry run), and hoist controller runs with
// nothing but the rendered RBAC.

var (
	deployDir    = filepath.Join("..", "deploy")
	chartDir     = filepath.Join(deployDir, "chart", "hoist")
	kustomizeDir = filepath.Join(deployDir, "kustomize")
)

// deployTool is a binary that deploy/build-tools.sh builds: $ENV when set,
// else under the test cache. Missing, it skips the test (fails it under
// CI=true).
func deployTool(t *testing.T, env, name, version string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		cache := os.Getenv("HOIST_TEST_CACHE")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "hoist-test")
		}
		path = filepath.Join(cache, name+"-"+version, name)
	}
	if _, err := os.Stat(path); err != nil {
		msg := fmt.Sprintf("%s not found; run deploy/build-tools.sh", path)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

func helmBin(t *testing.T) string { return deployTool(t, "HELM", "helm", "v4.3.2") }
func kustomizeBin(t *testing.T) string {
	return deployTool(t, "KUSTOMIZE", "kustomize", "v5.8.2")
}

// render runs a tool and returns its standard output.
func render(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// decode splits a rendered stream into its objects.
func decode(t *testing.T, what string, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: decoding object %d: %v", what, len(objs)+1, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		objs = append(objs, u)
	}
	if len(objs) == 0 {
		t.Fatalf("%s rendered no object", what)
	}
	return objs
}

type rendering struct {
	name string
	objs []*unstructured.Unstructured
}

// renderings are every rendering of deploy/ that users install.
func renderings(t *testing.T) []rendering {
	t.Helper()
	helm, kustomize := helmBin(t), kustomizeBin(t)
	sharded := filepath.Join(chartDir, "ci", "sharded-values.yaml")
	render(t, helm, "lint", "--strict", chartDir)
	render(t, helm, "lint", "--strict", chartDir, "-f", sharded)
	// The ServiceMonitor component on the base, from a kustomization
	// outside the repository.
	withMonitor := t.TempDir()
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	rel := func(p string) string { // kustomize takes relative paths only
		r, err := filepath.Rel(withMonitor, abs(p))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	writeFile(t, filepath.Join(withMonitor, "kustomization.yaml"), fmt.Sprintf(
		"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - %s\ncomponents:\n  - %s\n",
		rel(filepath.Join(kustomizeDir, "base")), rel(filepath.Join(kustomizeDir, "components", "servicemonitor"))))
	var rs []rendering
	for _, r := range []struct {
		name string
		bin  string
		args []string
	}{
		{"helm default", helm, []string{"template", "hoist", chartDir, "--namespace", "hoist-system", "--include-crds"}},
		{"helm sharded", helm, []string{"template", "hoist", chartDir, "--namespace", "hoist-system", "--include-crds", "-f", sharded}},
		{"helm servicemonitor", helm, []string{"template", "hoist", chartDir, "--namespace", "hoist-system", "--set", "metrics.serviceMonitor.enabled=true"}},
		{"kustomize base", kustomize, []string{"build", filepath.Join(kustomizeDir, "base")}},
		{"kustomize leader-election", kustomize, []string{"build", filepath.Join(kustomizeDir, "overlays", "leader-election")}},
		{"kustomize sharded", kustomize, []string{"build", filepath.Join(kustomizeDir, "overlays", "sharded")}},
		{"kustomize namespaced", kustomize, []string{"build", filepath.Join(kustomizeDir, "overlays", "namespaced")}},
		{"kustomize servicemonitor", kustomize, []string{"build", withMonitor}},
	} {
		rs = append(rs, rendering{r.name, decode(t, r.name, render(t, r.bin, r.args...))})
	}
	return rs
}

// TestDeployCRDCopies: the chart's and the base's CRDs are config/crd's.
func TestDeployCRDCopies(t *testing.T) {
	want, err := filepath.Glob(filepath.Join("..", "config", "crd", "*.yaml"))
	if err != nil || len(want) == 0 {
		t.Fatalf("no CRD in config/crd: %v", err)
	}
	for _, dir := range []string{filepath.Join(chartDir, "crds"), filepath.Join(kustomizeDir, "base", "crds")} {
		got, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if len(got) != len(want) {
			t.Errorf("%s has %d CRDs, config/crd %d: run make generate", dir, len(got), len(want))
		}
		for _, w := range want {
			a, _ := os.ReadFile(w)
			b, err := os.ReadFile(filepath.Join(dir, filepath.Base(w)))
			if err != nil || !bytes.Equal(a, b) {
				t.Errorf("%s differs from %s: run make generate", filepath.Join(dir, filepath.Base(w)), w)
			}
		}
	}
}

// TestDeployRender checks what the renderings hold: the pod's hardening,
// the probes, the flags of each variant, and RBAC of the right scope.
func TestDeployRender(t *testing.T) {
	for _, r := range renderings(t) {
		t.Run(r.name, func(t *testing.T) {
			kinds := map[string]int{}
			var args [][]string
			for _, u := range r.objs {
				kinds[u.GetKind()]++
				if u.GetKind() != "Deployment" {
					continue
				}
				pod, _, _ := unstructured.NestedMap(u.Object, "spec", "template", "spec")
				checkPod(t, u.GetName(), pod)
				cs, _, _ := unstructured.NestedSlice(pod, "containers")
				a, _, _ := unstructured.NestedStringSlice(cs[0].(map[string]any), "args")
				args = append(args, a)
			}
			joined := fmt.Sprint(args)
			switch {
			case strings.Contains(r.name, "sharded"):
				if len(args) != 3 {
					t.Errorf("%d Deployments, want 3 shards", len(args))
				}
				for i, a := range args {
					if want := fmt.Sprintf("--watch-label-selector=sharding.hoist.dev/key in (shard%d)", i+1); !contains(a, want) {
						t.Errorf("shard %d args %q lack %q", i+1, a, want)
					}
				}
			case strings.Contains(r.name, "leader-election"):
				if !strings.Contains(joined, "--leader-elect") {
					t.Errorf("args %v lack --leader-elect", args)
				}
			}
			namespaced := strings.Contains(r.name, "namespaced") || r.name == "helm sharded"
			if namespaced && (kinds["ClusterRole"] != 0 || !strings.Contains(joined, "--watch-namespaces=")) {
				t.Errorf("namespaced: %d ClusterRoles, args %v", kinds["ClusterRole"], args)
			}
			if !namespaced && kinds["ClusterRole"] != 1 {
				t.Errorf("%d ClusterRoles, want 1", kinds["ClusterRole"])
			}
			if strings.Contains(r.name, "servicemonitor") != (kinds["ServiceMonitor"] == 1) {
				t.Errorf("%d ServiceMonitors", kinds["ServiceMonitor"])
			}
			if r.name != "helm servicemonitor" { // rendered without --include-crds
				if kinds["CustomResourceDefinition"] != 5 {
					t.Errorf("%d CRDs, want 5", kinds["CustomResourceDefinition"])
				}
			}
		})
	}
}

// TestDeployChartValues: values.schema.json refuses bad values, and the
// NOTES say how to get the webhook URL, for each way of exposing it.
func TestDeployChartValues(t *testing.T) {
	helm := helmBin(t)
	for _, tc := range []struct {
		name string
		set  string
		err  string // in the error of helm template; "" for none
	}{
		{"no replicas", "replicas=0", "replicas"},
		{"bad shard name", "shards[0]=Shard_1", "shards"},
		{"unknown value", "replica=2", "replica"},
		{"bad log format", "logFormat=xml", "logFormat"},
		{"good", "shards[0]=shard1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(helm, "template", "hoist", chartDir, "--set", tc.set).CombinedOutput()
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("--set %s: %v\n%s", tc.set, err, out)
			case tc.err != "" && (err == nil || !strings.Contains(string(out), tc.err)):
				t.Errorf("--set %s: %v, want an error naming %s\n%s", tc.set, err, tc.err, out)
			}
		})
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"port-forward", nil, []string{"{.status.webhookPath}", "port-forward service/hoist-webhook 9393:80", "http://127.0.0.1:9393$WEBHOOK_PATH"}},
		{"ingress", []string{"--set", "webhook.ingress.enabled=true", "--set", "webhook.ingress.host=hooks.example.com", "--set", "webhook.ingress.tls[0].secretName=tls"},
			[]string{"{.status.webhookPath}", "https://hooks.example.com$WEBHOOK_PATH"}},
		{"load balancer", []string{"--set", "webhook.service.type=LoadBalancer"}, []string{"service hoist-webhook -o jsonpath='{.status.loadBalancer.ingress[0].ip}'", "http://$HOST:80$WEBHOOK_PATH"}},
		{"shards", []string{"--set", "shards={a,b}", "--set", "webhook.ingress.enabled=true"}, []string{"http://a.hoist.example.com$WEBHOOK_PATH", "http://b.hoist.example.com$WEBHOOK_PATH"}},
	} {
		t.Run("NOTES "+tc.name, func(t *testing.T) {
			out := string(render(t, helm, append([]string{"install", "hoist", chartDir, "--dry-run=client", "--namespace", "hoist-system"}, tc.args...)...))
			_, notes, ok := strings.Cut(out, "NOTES:")
			if !ok {
				t.Fatalf("no NOTES:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(notes, w) {
					t.Errorf("NOTES lack %q:\n%s", w, notes)
				}
			}
		})
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// checkPod: non-root 65532, seccomp RuntimeDefault, read-only root, no
// capabilities, resources, probes on the ops port, an emptyDir state.
func checkPod(t *testing.T, name string, pod map[string]any) {
	t.Helper()
	str := func(m map[string]any, path ...string) string {
		v, _, _ := unstructured.NestedFieldNoCopy(m, path...)
		return fmt.Sprint(v)
	}
	for path, want := range map[string]string{
		"securityContext.runAsNonRoot":        "true",
		"securityContext.runAsUser":           "65532",
		"securityContext.seccompProfile.type": "RuntimeDefault",
	} {
		if got := str(pod, strings.Split(path, ".")...); got != want {
			t.Errorf("%s: spec.template.spec.%s = %s, want %s", name, path, got, want)
		}
	}
	cs, _, _ := unstructured.NestedSlice(pod, "containers")
	c := cs[0].(map[string]any)
	for path, want := range map[string]string{
		"securityContext.readOnlyRootFilesystem":   "true",
		"securityContext.allowPrivilegeEscalation": "false",
		"securityContext.capabilities.drop":        "[ALL]",
		"livenessProbe.httpGet.path":               "/healthz",
		"livenessProbe.httpGet.port":               "ops",
		"readinessProbe.httpGet.path":              "/readyz",
		"readinessProbe.httpGet.port":              "ops",
	} {
		if got := str(c, strings.Split(path, ".")...); got != want {
			t.Errorf("%s: container.%s = %s, want %s", name, path, got, want)
		}
	}
	if str(c, "resources", "requests", "memory") == "<nil>" || str(c, "resources", "limits", "memory") == "<nil>" {
		t.Errorf("%s: no memory request or limit", name)
	}
	vols, _, _ := unstructured.NestedSlice(pod, "volumes")
	if len(vols) == 0 || str(vols[0].(map[string]any), "name") != "state" || str(vols[0].(map[string]any), "emptyDir") != "map[]" {
		t.Errorf("%s: volumes %v, want the state emptyDir first", name, vols)
	}
}

// TestDeployDryRun applies every object of every rendering to the
// kube-apiserver with server-side apply and dry run: the API server
// validates each against its schema (the CRDs' included). ServiceMonitors
// are left out: prometheus-operator's CRDs are not installed.
func TestDeployDryRun(t *testing.T) {
	rs := renderings(t)
	kube := testenv.StartKube(t, controller.NewScheme(), filepath.Join("..", "config", "crd"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, ns := range []string{"hoist-system", "apps", "team-b"} {
		create(ctx, t, kube.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	for _, r := range rs {
		t.Run(r.name, func(t *testing.T) {
			n := 0
			for _, u := range r.objs {
				if u.GetKind() == "ServiceMonitor" {
					continue
				}
				if u.GetKind() == "Namespace" {
					// Dry run: a new namespace is not kept, so the namespaced
					// objects are checked in the one created above.
					if u.GetName() != "hoist-system" {
						t.Errorf("namespace %s, want hoist-system", u.GetName())
					}
				}
				err := kube.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
					client.FieldOwner("hoist-deploy-test"), client.ForceOwnership, client.DryRunAll)
				if err != nil {
					t.Errorf("%s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
				}
				n++
			}
			t.Logf("%d objects accepted", n)
		})
	}
}

// TestDeployRBAC applies the RBAC of the namespaced overlay and of the
// default chart, and runs hoist controller with the args of the rendered
// Deployment as its ServiceAccount (a TokenRequest token): it reads the
// Receiver's Secret, writes status, scans and commits; with the namespaced
// Roles, the ServiceAccount cannot read a Secret of another namespace.
func TestDeployRBAC(t *testing.T) {
	helm, kustomize := helmBin(t), kustomizeBin(t)
	for _, tc := range []struct {
		name      string
		render    []string
		bin       string
		sa        string
		forbidden bool // a Secret outside the watched namespace
	}{
		{"kustomize namespaced", []string{"build", filepath.Join(kustomizeDir, "overlays", "namespaced")}, kustomize, "hoist-controller", true},
		{"helm leader election", []string{"template", "hoist", chartDir, "--namespace", "hoist-system", "--set", "replicas=2"}, helm, "hoist", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := decode(t, tc.name, render(t, tc.bin, tc.render...))
			kube := testenv.StartKube(t, controller.NewScheme(), filepath.Join("..", "config", "crd"))
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			c := kube.Client
			f := newFleet(t, fleetOptions{first: "1.0.0", semver: ">=1.0.0", notify: true})
			applyFleet(ctx, t, c, f, nil) // creates the namespace apps
			for _, ns := range []string{"hoist-system", "other"} {
				create(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
			}
			var args []string
			for _, u := range objs {
				switch u.GetKind() {
				case "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding":
					if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("hoist-deploy-test"), client.ForceOwnership); err != nil {
						t.Fatalf("applying %s %s: %v", u.GetKind(), u.GetName(), err)
					}
				case "Deployment":
					pod, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
					args, _, _ = unstructured.NestedStringSlice(pod[0].(map[string]any), "args")
				}
			}
			// The pod's args, but for the addresses and the state directory
			// (the test's), and the Lease's namespace (a pod's own).
			var flags []string
			for _, a := range args[1:] {
				if strings.HasPrefix(a, "--listen=") || strings.HasPrefix(a, "--ops-listen=") || strings.HasPrefix(a, "--state-dir=") {
					continue
				}
				flags = append(flags, a)
			}
			if tc.forbidden && !contains(flags, "--watch-namespaces="+f.namespace) {
				t.Fatalf("args %v do not watch %s", args, f.namespace)
			}
			flags = append(flags, "--leader-election-namespace=hoist-system", "--commit-window=0", "--startup-spread=0",
				"--state-dir="+filepath.Join(t.TempDir(), "state"))

			saConfig := serviceAccountConfig(ctx, t, kube, "hoist-system", tc.sa)
			create(ctx, t, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook", Namespace: f.namespace}, StringData: map[string]string{"token": hookToken}})
			create(ctx, t, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: "other"}, StringData: map[string]string{"token": "x"}})
			create(ctx, t, c, &v1alpha1.Receiver{
				ObjectMeta: metav1.ObjectMeta{Name: "registry", Namespace: f.namespace},
				Spec: v1alpha1.ReceiverSpec{
					Type:      "distribution",
					Resources: []v1alpha1.CrossNamespaceObjectReference{{Kind: v1alpha1.ImageRepositoryKind, Name: f.name}},
					SecretRef: v1alpha1.LocalObjectReference{Name: "hook"},
				},
			})

			// What the ServiceAccount may do, asked as it.
			sa, err := client.New(saConfig.rest, client.Options{Scheme: controller.NewScheme()})
			if err != nil {
				t.Fatal(err)
			}
			var sec corev1.Secret
			if err := sa.Get(ctx, client.ObjectKey{Namespace: f.namespace, Name: "hook"}, &sec); err != nil {
				t.Errorf("the ServiceAccount cannot read the Secret of its watched namespace: %v", err)
			}
			err = sa.Get(ctx, client.ObjectKey{Namespace: "other", Name: "elsewhere"}, &sec)
			if tc.forbidden && !apierrors.IsForbidden(err) {
				t.Errorf("reading a Secret of an unwatched namespace: %v, want Forbidden", err)
			}
			// The controller watches the Secrets' metadata, to see a
			// change of one it uses.
			if err := sa.List(ctx, &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "SecretList"}}, client.InNamespace(f.namespace)); err != nil {
				t.Errorf("listing the Secrets of its watched namespace: %v", err)
			}
			err = sa.List(ctx, &corev1.SecretList{}, client.InNamespace("other"))
			if tc.forbidden && !apierrors.IsForbidden(err) {
				t.Errorf("listing the Secrets of an unwatched namespace: %v, want Forbidden", err)
			}
			// It watches the ServiceAccounts (serviceAccountName).
			if err := sa.List(ctx, &corev1.ServiceAccountList{}, client.InNamespace(f.namespace)); err != nil {
				t.Errorf("listing the ServiceAccounts of its watched namespace: %v", err)
			}

			p := startHoistCommand(t, "controller", f.addr, nil, append([]string{"--kubeconfig", saConfig.file}, flags...)...)
			var rc v1alpha1.Receiver
			waitFor(ctx, t, "the receiver's webhookPath", func() bool {
				return c.Get(ctx, client.ObjectKey{Namespace: f.namespace, Name: "registry"}, &rc) == nil && rc.Status.WebhookPath != ""
			})
			waitPolicy(ctx, t, c, f.namespace, f.name, func(p *v1alpha1.ImagePolicy) bool { return p.Status.LatestRef != nil })
			waitRef(t, f.bare, "main", f.push("1.1.0"), 60*time.Second)
			if got := f.deployed(); !strings.Contains(got, "podinfo:1.1.0") {
				t.Errorf("main does not have 1.1.0:\n%s", got)
			}
			for _, bad := range []string{"forbidden", "Forbidden"} {
				if strings.Contains(p.logs(), bad) {
					t.Errorf("the controller was refused something:\n%s", tail(p.logs(), 4000))
					break
				}
			}
			p.stop()
		})
	}
}

type saKubeconfig struct {
	rest *rest.Config
	file string
}

// serviceAccountConfig is a kubeconfig that reaches kube's API server as
// the ServiceAccount ns/name, with a token from a TokenRequest.
func serviceAccountConfig(ctx context.Context, t *testing.T, kube *testenv.Kube, ns, name string) saKubeconfig {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	expiry := int64(3600)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}
	if err := kube.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		t.Fatalf("TokenRequest for ServiceAccount %s/%s: %v", ns, name, err)
	}
	cfg := rest.AnonymousClientConfig(kube.Config)
	cfg.BearerToken = tr.Status.Token
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kube"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["sa"] = &clientcmdapi.Context{Cluster: "kube", AuthInfo: "sa"}
	kc.CurrentContext = "sa"
	file := filepath.Join(t.TempDir(), "kubeconfig-"+name)
	if err := clientcmd.WriteToFile(*kc, file); err != nil {
		t.Fatal(err)
	}
	return saKubeconfig{rest: cfg, file: file}
}
