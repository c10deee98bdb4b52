package controller

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// objectReads counts the requests for one ServiceAccount or one Secret
// (GET of .../serviceaccounts/NAME or .../secrets/NAME: not a list nor a
// watch) that pass through a rest.Config it wraps.
type objectReads struct {
	mu sync.Mutex
	n  map[string]int // by resource
}

var objectPath = regexp.MustCompile(`^/api/v1/namespaces/[^/]+/(serviceaccounts|secrets)/[^/]+$`)

func (o *objectReads) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		if m := objectPath.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodGet && r.URL.Query().Get("watch") == "" {
			o.mu.Lock()
			o.n[m[1]]++
			o.mu.Unlock()
		}
		return rt.RoundTrip(r)
	})
}

func (o *objectReads) counts() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]int{}
	for k, v := range o.n {
		out[k] = v
	}
	return out
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestServiceAccountFromWatches runs the controller against a real API
// server with ImageRepositories that name a serviceAccountName whose image
// pull secrets log in to a registry:
//   - at rest, a scan reads neither the ServiceAccount nor its Secrets
//     from the API server (they come from the cache's watches, the
//     Secret's value is kept while its resourceVersion is);
//   - a pull secret added to the ServiceAccount, and a new password in the
//     Secret, rescan the repository at once, with the new credentials;
//   - no password appears in the logs, the status or the events.
func TestServiceAccountFromWatches(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver")
	}
	kube := testenv.StartKube(t, NewScheme(), filepath.Join("..", "config", "crd"))
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	c := kube.Client

	// The registry accepts puller's password, and rotator's current one.
	const (
		pullerPassword   = "puller-password-d41d8c"
		rotatorPassword1 = "rotator-password-1-9e107d"
		rotatorPassword2 = "rotator-password-2-e4d909"
		rotatorPassword3 = "rotator-password-3-a87ff6"
		malformedAuth    = "puller:password-not-base64-c4ca42"
	)
	var mu sync.Mutex
	rotatorPassword := rotatorPassword1
	secrets := []string{pullerPassword, rotatorPassword1, rotatorPassword2, rotatorPassword3, malformedAuth} // and the auth fields made of them
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{
		Auth: testenv.AuthToken, Username: "pusher", Password: "pusher-password",
		Accept: func(u, p string) bool {
			mu.Lock()
			defer mu.Unlock()
			return (u == "pusher" && p == "pusher-password") || (u == "puller" && p == pullerPassword) || (u == "rotator" && p == rotatorPassword)
		},
	})
	reg.PushImage(t, "team/app", "1.0.0", testenv.ImageOptions{})
	reg.PushImage(t, "team/app", "1.1.0", testenv.ImageOptions{})
	reg.PushImage(t, "team/rotating", "2.0.0", testenv.ImageOptions{})

	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rc, err := registry.New(registry.WithTransport(testenv.LoopbackTransport()), registry.WithMaxRetries(0), registry.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	runner := &automation.Runner{Scanner: &automation.Scanner{Registry: rc}, StateDir: state, SecretsDir: filepath.Join(state, "secrets"), Logger: logger}
	reads := &objectReads{n: map[string]int{}}
	cfg := rest.CopyConfig(kube.Config)
	cfg.Wrap(reads.wrap)
	ctl := startController(ctx, t, cfg, runner, logger)

	dockerConfig := func(user, password string) map[string][]byte {
		auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
		secrets = append(secrets, auth)
		data, _ := json.Marshal(map[string]any{"auths": map[string]any{reg.Host: map[string]string{"auth": auth}}})
		return map[string][]byte{corev1.DockerConfigJsonKey: data}
	}
	const ns = "pull"
	create(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	create(ctx, t, c, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: ns},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       dockerConfig("puller", pullerPassword),
	})
	create(ctx, t, c, &corev1.ServiceAccount{
		ObjectMeta:       metav1.ObjectMeta{Name: "puller", Namespace: ns},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}},
	})
	create(ctx, t, c, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "rotator", Namespace: ns}})
	// A pull secret whose auth is not base64: its problem is named,
	// never its value.
	create(ctx, t, c, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "malformed", Namespace: ns},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"` + reg.Host + `":{"auth":"` + malformedAuth + `"}}}`)},
	})
	create(ctx, t, c, &corev1.ServiceAccount{
		ObjectMeta:       metav1.ObjectMeta{Name: "malformed", Namespace: ns},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "malformed"}},
	})
	for _, r := range []struct{ name, image, sa string }{{"app", "team/app", "puller"}, {"rotating", "team/rotating", "rotator"}, {"malformed", "team/app", "malformed"}} {
		create(ctx, t, c, &v1alpha1.ImageRepository{
			ObjectMeta: metav1.ObjectMeta{Name: r.name, Namespace: ns},
			Spec: v1alpha1.ImageRepositorySpec{
				Image: reg.Host + "/" + r.image, Insecure: true,
				ServiceAccountName: r.sa, Interval: metav1.Duration{Duration: time.Hour},
			},
		})
		create(ctx, t, c, &v1alpha1.ImagePolicy{ // a repository no policy uses is not scanned
			ObjectMeta: metav1.ObjectMeta{Name: r.name, Namespace: ns},
			Spec: v1alpha1.ImagePolicySpec{
				ImageRepositoryRef: v1alpha1.NamespacedObjectReference{Name: r.name},
				Policy:             v1alpha1.ImagePolicyChoice{SemVer: &v1alpha1.SemVerPolicy{Range: ">=1.0.0"}},
			},
		})
	}
	// ready waits until ImageRepository name's Ready condition is want,
	// and returns its message.
	ready := func(t *testing.T, name string, want metav1.ConditionStatus) string {
		t.Helper()
		var msg string
		waitFor(ctx, t, "Ready="+string(want)+" of ImageRepository "+name, func() bool {
			var r v1alpha1.ImageRepository
			if c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &r) != nil {
				return false
			}
			cond := apimeta.FindStatusCondition(r.Status.Conditions, ReadyCondition)
			if cond == nil || cond.Status != want {
				return false
			}
			msg = cond.Message
			return true
		})
		return msg
	}

	t.Run("no reads at rest", func(t *testing.T) {
		// Every repository's first scan, which reads its pull secrets.
		ready(t, "app", metav1.ConditionTrue)
		ready(t, "rotating", metav1.ConditionFalse) // no pull secret yet
		ready(t, "malformed", metav1.ConditionFalse)
		k := objectKey{v1alpha1.ImageRepositoryKind, ns, "app"}
		before := reads.counts()
		t.Logf("reads of the first scans: %v", before)
		for range 3 {
			scan, _ := ctl.obs.scan(k)
			ctl.Service().Rescan(ns + "/app")
			waitFor(ctx, t, "a rescan of ImageRepository app", func() bool {
				s, ok := ctl.obs.scan(k)
				return ok && s.at.After(scan.at)
			})
			if s, _ := ctl.obs.scan(k); s.err != "" || s.tags != 2 {
				t.Fatalf("rescan: %d tags, error %q; want the two tags", s.tags, s.err)
			}
		}
		if after := reads.counts(); after["serviceaccounts"] != before["serviceaccounts"] || after["secrets"] != before["secrets"] {
			t.Errorf("three rescans read from the API server: reads %v before, %v after", before, after)
		}
	})

	t.Run("a pull secret added to the ServiceAccount", func(t *testing.T) {
		msg := ready(t, "rotating", metav1.ConditionFalse) // no credentials
		t.Logf("without a pull secret: %s", msg)
		create(ctx, t, c, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "rotating", Namespace: ns},
			Type:       corev1.SecretTypeDockerConfigJson,
			Data:       dockerConfig("rotator", rotatorPassword1),
		})
		var sa corev1.ServiceAccount
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rotator"}, &sa); err != nil {
			t.Fatal(err)
		}
		sa.ImagePullSecrets = append(sa.ImagePullSecrets, corev1.LocalObjectReference{Name: "rotating"})
		if err := c.Update(ctx, &sa); err != nil {
			t.Fatal(err)
		}
		ready(t, "rotating", metav1.ConditionTrue)
	})

	t.Run("a new password in the pull secret", func(t *testing.T) {
		password := func(p string) {
			t.Helper()
			var sec corev1.Secret
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rotating"}, &sec); err != nil {
				t.Fatal(err)
			}
			sec.Data = dockerConfig("rotator", p)
			if err := c.Update(ctx, &sec); err != nil {
				t.Fatal(err)
			}
		}
		// A password the registry refuses: the rescan uses it (the old
		// one, or its token, would still pass).
		password(rotatorPassword2)
		t.Logf("with a password the registry refuses: %s", ready(t, "rotating", metav1.ConditionFalse))
		// The registry's new password, then the Secret's.
		mu.Lock()
		rotatorPassword = rotatorPassword3
		mu.Unlock()
		password(rotatorPassword3)
		ready(t, "rotating", metav1.ConditionTrue)
	})

	t.Run("no secret in logs, status or events", func(t *testing.T) {
		msg := ready(t, "malformed", metav1.ConditionFalse)
		if want := `image pull secret "malformed" of ServiceAccount pull/malformed`; !strings.Contains(msg, want) || !strings.Contains(msg, "not base64") {
			t.Errorf("Ready message %q does not say %s is not base64", msg, want)
		}
		var events eventsv1.EventList
		warned := map[string]bool{}
		waitFor(ctx, t, "the warning events of ImageRepositories rotating and malformed", func() bool {
			if c.List(ctx, &events, client.InNamespace(ns)) != nil {
				return false
			}
			for _, e := range events.Items {
				if e.Type == corev1.EventTypeWarning {
					warned[e.Regarding.Name] = true
				}
			}
			return warned["rotating"] && warned["malformed"]
		})
		var repos v1alpha1.ImageRepositoryList
		if err := c.List(ctx, &repos, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		var coreEvents corev1.EventList
		if err := c.List(ctx, &coreEvents, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for what, v := range map[string]any{"status": repos, "events": events, "core/v1 events": coreEvents} {
			data, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range secrets {
				if strings.Contains(string(data), s) {
					t.Errorf("the %s carry a secret: %s", what, s)
				}
			}
		}
		for _, s := range secrets {
			if strings.Contains(logs.String(), s) {
				t.Errorf("the logs carry a secret: %s", s)
			}
		}
	})
}

// TestCredentialVersionsServiceAccount: an ImageRepository with a
// serviceAccountName uses that ServiceAccount and its image pull secrets;
// a change of the ServiceAccount, of one of its pull secrets, or one that
// appears, makes it a user to rescan, and the fingerprint changes with it.
func TestCredentialVersionsServiceAccount(t *testing.T) {
	ctx := t.Context()
	r := repo("web", "ghcr.io/org/web").obj.(*v1alpha1.ImageRepository)
	r.Spec.ServiceAccountName = "puller"
	other := repo("other", "ghcr.io/org/other")
	objs := []object{{objectKey{v1alpha1.ImageRepositoryKind, "apps", "web"}, r}, other}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "puller", Namespace: "apps"}, ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}}}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: "apps"}, Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{}}`)}}
	added := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "added", Namespace: "apps"}}
	// The API server is controller-runtime's fake client here: the
	// versions are read from whatever cache the controller is given.
	c := fake.NewClientBuilder().WithScheme(NewScheme()).WithObjects(sa, sec, added).Build()
	read := func() credentials {
		t.Helper()
		v, err := credentialVersions(ctx, c, objs)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	web := []objectKey{{v1alpha1.ImageRepositoryKind, "apps", "web"}}
	tests := []struct {
		name   string
		change func() error
		want   []objectKey
	}{
		{"nothing", func() error { return nil }, nil},
		{"the pull secret's value", func() error {
			sec.Data[corev1.DockerConfigJsonKey] = []byte(`{"auths":{"ghcr.io":{}}}`)
			return c.Update(ctx, sec)
		}, web},
		{"a pull secret added", func() error {
			sa.ImagePullSecrets = append(sa.ImagePullSecrets, corev1.LocalObjectReference{Name: "added"})
			return c.Update(ctx, sa)
		}, web},
		{"the added pull secret's value", func() error {
			added.Data = map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{}}`)}
			return c.Update(ctx, added)
		}, web},
		{"the ServiceAccount deleted", func() error { return c.Delete(ctx, sa) }, web},
	}
	prev := read()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.change(); err != nil {
				t.Fatal(err)
			}
			now := read()
			if diff := cmp.Diff(tc.want, prev.changed(objs, now)); diff != "" {
				t.Errorf("users (-want +got):\n%s", diff)
			}
			if changed := prev.fingerprint() != now.fingerprint(); changed != (tc.want != nil) {
				t.Errorf("fingerprint changed: %t, want %t", changed, tc.want != nil)
			}
			prev = now
		})
	}
}
