package controller

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/internal/testenv"
)

func TestSecretAccess(t *testing.T) {
	secret := func(ns, annotation string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "git-creds"}}
		if annotation != "" {
			s.Annotations = map[string]string{AccessFromAnnotation: annotation}
		}
		return s
	}
	for name, tc := range map[string]struct {
		sec           *corev1.Secret
		ns            string
		labels        labels.Set
		wantInMessage string // "": may read
	}{
		"same namespace, no annotation":    {sec: secret("web", ""), ns: "web"},
		"other namespace, no annotation":   {sec: secret("argocd", ""), ns: "web", wantInMessage: "Secret argocd/git-creds cannot be read by the Applications of namespace web: it has no annotation hoist.dev/access-from"},
		"selector matches the labels":      {sec: secret("argocd", `{namespaceSelectors: [{matchLabels: {team: web}}]}`), ns: "web", labels: labels.Set{"team": "web", "x": "y"}},
		"second selector matches":          {sec: secret("argocd", `{"namespaceSelectors":[{"matchLabels":{"team":"shop"}},{"matchLabels":{"team":"web"}}]}`), ns: "web", labels: labels.Set{"team": "web"}},
		"empty selector admits every one":  {sec: secret("argocd", `{namespaceSelectors: [{}]}`), ns: "web"},
		"selector matches no label":        {sec: secret("argocd", `{namespaceSelectors: [{matchLabels: {team: web}}]}`), ns: "shop", labels: labels.Set{"team": "shop"}, wantInMessage: "match no label of the namespace"},
		"no selector admits none":          {sec: secret("argocd", `{namespaceSelectors: []}`), ns: "web", wantInMessage: "match no label of the namespace"},
		"annotation with an unknown field": {sec: secret("argocd", `{namespaceSelector: [{}]}`), ns: "web", wantInMessage: `its annotation hoist.dev/access-from: error unmarshaling JSON: while decoding JSON: json: unknown field "namespaceSelector"`},
	} {
		t.Run(name, func(t *testing.T) {
			got := secretAccess(tc.sec, tc.ns, tc.labels)
			if (got == "") != (tc.wantInMessage == "") || !strings.Contains(got, tc.wantInMessage) {
				t.Errorf("secretAccess = %q, want %q in it", got, tc.wantInMessage)
			}
		})
	}
}

// TestArgoGitSecretNamespace: the Git credentials of write-back method
// git:secret:NAMESPACE/NAME are the Secret NAME of NAMESPACE, not of the
// Application's namespace, read from a real API server (with a minimal
// Application CustomResourceDefinition: Argo CD itself cannot run here).
// A Secret of another namespace is read only when its annotation
// hoist.dev/access-from admits the Application's namespace; an
// Application it does not admit is left out, saying why, until the
// annotation admits it.
func TestArgoGitSecretNamespace(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver")
	}
	kube := testenv.StartKube(t, NewScheme(), filepath.Join("..", "config", "crd"), testenv.ArgoCDCRDs(t))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c := kube.Client
	for ns, l := range map[string]map[string]string{"argocd": nil, "web": {"team": "web"}, "shop": {"team": "shop"}} {
		create(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: l}})
	}
	shared := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "git-creds", Namespace: "argocd", Annotations: map[string]string{AccessFromAnnotation: "namespaceSelectors: [{matchLabels: {team: web}}]"}},
		StringData: map[string]string{"username": "argocd-user", "password": "argocd-pw"},
	}
	create(ctx, t, c, shared)
	// A Secret of the same name in web: it must not stand in for argocd's.
	create(ctx, t, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "git-creds", Namespace: "web"}, StringData: map[string]string{"username": "web-user", "password": "web-pw"}})
	app := func(ns, name, method string) {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(`
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: `+name+`
  namespace: `+ns+`
  annotations:
    argocd-image-updater.argoproj.io/image-list: web=ghcr.io/acme/web:~1
    argocd-image-updater.argoproj.io/write-back-method: `+method+`
spec:
  source: {repoURL: https://git.example.com/fleet.git, targetRevision: main, path: apps/`+name+`, helm: {}}
`), &u.Object); err != nil {
			t.Fatal(err)
		}
		create(ctx, t, c, u)
	}
	app("web", "shared", "git:secret:argocd/git-creds")
	app("web", "local", "git:secret:git-creds") // Image Updater v1.x: the Application's namespace
	app("shop", "shop", "git:secret:argocd/git-creds")

	secretsDir := t.TempDir()
	d := &documents{secrets: c, secretsDir: secretsDir}
	d.extra = []func(context.Context) ([]object, error){func(ctx context.Context) ([]object, error) {
		return listArgo(ctx, c, []schema.GroupVersionKind{ApplicationGVK})
	}}
	var (
		mu  sync.Mutex
		got *config.Set
	)
	src := newSource()
	go func() {
		_ = src.Run(ctx, func(s *config.Set) {
			mu.Lock()
			got = s
			mu.Unlock()
		})
	}()
	resync := func() map[string]string {
		t.Helper()
		d.changes.Add(1) // as the watches do
		if _, err := d.sync(ctx, c, src, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		out := map[string]string{}
		for _, a := range got.Automations {
			dir := filepath.Join(secretsDir, a.Spec.Git.SecretRef.Name)
			user, err := os.ReadFile(filepath.Join(dir, "username"))
			if err != nil {
				t.Fatalf("automation %s/%s: %v", a.Namespace, a.Name, err)
			}
			out[a.Namespace+"/"+a.Name] = a.Spec.Git.SecretRef.Name + ": " + string(user)
		}
		return out
	}

	want := map[string]string{
		"web/shared": "argocd_git-creds: argocd-user",
		"web/local":  "git-creds: web-user",
	}
	if diff := cmp.Diff(want, resync()); diff != "" {
		t.Errorf("automations and the credentials they read (-want +got):\n%s", diff)
	}
	const deniedMsg = "write-back method git:secret:argocd/git-creds: Secret argocd/git-creds cannot be read by the Applications of namespace shop: the namespaceSelectors of its annotation hoist.dev/access-from match no label of the namespace"
	if got := d.argoDeniedAccess(objectKey{"Application", "shop", "shop"}); got != deniedMsg {
		t.Errorf("why shop/shop is left out:\n got %q\nwant %q", got, deniedMsg)
	}

	// The Secret admits shop too, and has a new password.
	if err := c.Get(ctx, client.ObjectKeyFromObject(shared), shared); err != nil {
		t.Fatal(err)
	}
	shared.Annotations[AccessFromAnnotation] = `{"namespaceSelectors":[{"matchLabels":{"team":"web"}},{"matchLabels":{"team":"shop"}}]}`
	shared.StringData = map[string]string{"username": "argocd-user-2"}
	if err := c.Update(ctx, shared); err != nil {
		t.Fatal(err)
	}
	want = map[string]string{
		"web/shared": "argocd_git-creds: argocd-user-2",
		"web/local":  "git-creds: web-user",
		"shop/shop":  "argocd_git-creds: argocd-user-2",
	}
	if diff := cmp.Diff(want, resync()); diff != "" {
		t.Errorf("after the grant (-want +got):\n%s", diff)
	}
	if got := d.argoDeniedAccess(objectKey{"Application", "shop", "shop"}); got != "" {
		t.Errorf("shop/shop is still denied: %q", got)
	}
}

// TestArgoConfigMapFromAPI: the controller reads Image Updater's ConfigMap
// from the API server, in its namespace (not another namespace's ConfigMap
// of the same name), through the parser of the CLI: its git.* keys make
// the commits of the Applications' automations, registries.conf their
// registries' credentials and TLS, kube.events turns the events off; a
// change of it is read at the next sync.
func TestArgoConfigMapFromAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver")
	}
	kube := testenv.StartKube(t, NewScheme(), filepath.Join("..", "config", "crd"), testenv.ArgoCDCRDs(t))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c := kube.Client
	for _, ns := range []string{"image-updater", "argocd"} {
		create(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: config.ArgoConfigMapName, Namespace: "image-updater"},
		Data: map[string]string{
			"git.user":            "Image Bot",
			"git.email":           "images@example.com",
			"git.commit-sign-off": "true",
			"kube.events":         "false",
			"registries.conf":     "registries:\n- {name: GitHub, prefix: ghcr.io, api_url: https://ghcr.io, credentials: 'pullsecret:argocd/ghcr', insecure: yes}\n",
		},
	}
	create(ctx, t, c, cm)
	// The same name in another namespace: not read.
	create(ctx, t, c, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: config.ArgoConfigMapName, Namespace: "argocd"}, Data: map[string]string{"git.user": "Wrong"}})
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(`
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
  namespace: argocd
  annotations:
    argocd-image-updater.argoproj.io/image-list: web=ghcr.io/acme/web:~1
    argocd-image-updater.argoproj.io/write-back-method: git
spec:
  source: {repoURL: https://git.example.com/fleet.git, targetRevision: main, path: apps/web, helm: {}}
`), &u.Object); err != nil {
		t.Fatal(err)
	}
	create(ctx, t, c, u)

	d := &documents{secrets: c, secretsDir: t.TempDir()}
	key := client.ObjectKey{Namespace: "image-updater", Name: config.ArgoConfigMapName}
	d.extra = []func(context.Context) ([]object, error){func(ctx context.Context) ([]object, error) {
		objs, err := listArgo(ctx, c, []schema.GroupVersionKind{ApplicationGVK})
		if err != nil {
			return nil, err
		}
		o, err := argoConfigMap(ctx, c, key)
		if err != nil || o == nil {
			return objs, err
		}
		return append(objs, *o), nil
	}}
	var (
		mu  sync.Mutex
		got *config.Set
	)
	src := newSource()
	go func() {
		_ = src.Run(ctx, func(s *config.Set) {
			mu.Lock()
			got = s
			mu.Unlock()
		})
	}()
	type summary struct {
		Author, Message, PullSecret string
		Insecure, EventsOff         bool
	}
	resync := func() summary {
		t.Helper()
		d.changes.Add(1) // as the watch does
		if _, err := d.sync(ctx, c, src, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		a := got.Automation("argocd", "web")
		r := got.Repository("argocd", "web-web")
		if a == nil || r == nil {
			t.Fatalf("no automation or repository of web: %+v", got)
		}
		s := summary{Author: a.Spec.Git.Commit.Author.Name + " <" + a.Spec.Git.Commit.Author.Email + ">", Insecure: r.Spec.Insecure, EventsOff: got.ArgoCDKubeEventsOff}
		s.Message = a.Spec.Git.Commit.MessageTemplate[strings.LastIndex(strings.TrimSuffix(a.Spec.Git.Commit.MessageTemplate, "\n"), "\n")+1:]
		if r.Spec.SecretRef != nil {
			s.PullSecret = r.Spec.SecretRef.Name
		}
		return s
	}
	want := summary{Author: "Image Bot <images@example.com>", Message: "Signed-off-by: Image Bot <images@example.com>\n", PullSecret: "ghcr", Insecure: true, EventsOff: true}
	if diff := cmp.Diff(want, resync()); diff != "" {
		t.Errorf("the automation of web (-want +got):\n%s", diff)
	}

	if err := c.Get(ctx, key, cm); err != nil {
		t.Fatal(err)
	}
	cm.Data = map[string]string{"git.user": "Other Bot"}
	if err := c.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	want = summary{Author: "Other Bot <noreply@argoproj.io>", Message: "{{ end -}}\n"}
	if diff := cmp.Diff(want, resync()); diff != "" {
		t.Errorf("after the change of the ConfigMap (-want +got):\n%s", diff)
	}
}
