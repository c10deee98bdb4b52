package controller

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/v1alpha1"
)

// TestSyncListsOnChangeOnly: a sync lists the objects only after an event
// that may change the configuration, and reports the objects whose Secret
// changed since the last publish.
func TestSyncListsOnChangeOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := repo("web", "ghcr.io/org/web").obj.(*v1alpha1.ImageRepository)
	r.Spec.SecretRef = &v1alpha1.LocalObjectReference{Name: "regcred"}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: "apps"}, Data: map[string][]byte{".dockerconfigjson": []byte(`{"auths":{}}`)}}
	lists := 0
	c := fake.NewClientBuilder().WithScheme(NewScheme()).WithObjects(r, sec).
		WithInterceptorFuncs(interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, l client.ObjectList, opts ...client.ListOption) error {
			lists++
			return c.List(ctx, l, opts...)
		}}).Build()
	d := &documents{secrets: c, secretsDir: t.TempDir()}
	src := newSource()
	var published atomic.Int32 // sync returns once its publish is applied
	go func() { _ = src.Run(ctx, func(*config.Set) { published.Add(1) }) }()
	log := slog.New(slog.DiscardHandler)

	sync := func() []objectKey {
		t.Helper()
		users, err := d.sync(ctx, c, src, log)
		if err != nil {
			t.Fatal(err)
		}
		return users
	}
	sync()
	first := lists
	if first == 0 {
		t.Fatal("the first sync listed nothing")
	}
	sync()
	if lists != first {
		t.Errorf("a sync after no event listed %d times", lists-first)
	}
	// An event that changed nothing: listed, and not published again.
	d.changes.Add(1)
	sync()
	if n := published.Load(); n != 1 {
		t.Errorf("objects, Secrets and grants unchanged: published %d times, want once", n)
	}

	// The Secret changes; its watch counts it.
	sec.Data[".dockerconfigjson"] = []byte(`{"auths":{"ghcr.io":{}}}`)
	if err := c.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	d.changes.Add(1)
	if diff := cmp.Diff([]objectKey{{v1alpha1.ImageRepositoryKind, "apps", "web"}}, sync()); diff != "" {
		t.Errorf("users of the changed Secret (-want +got):\n%s", diff)
	}
	if lists == first {
		t.Errorf("a sync after an event listed nothing")
	}
}
