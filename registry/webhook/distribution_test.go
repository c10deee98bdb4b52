package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/manifest/ocischema"
	"github.com/distribution/distribution/v3/notifications"
	v2 "github.com/distribution/distribution/v3/registry/api/v2"
	"github.com/distribution/reference"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestDistributionSender: Distribution's own notification code, the bridge
// and HTTP endpoint a registry configured with notifications runs, delivers
// to a distribution receiver over HTTP. Its media type, its configured
// Authorization header and its envelope are accepted; a blob push asks for
// nothing; a tagged manifest push names the repository on request.host.
func TestDistributionSender(t *testing.T) {
	rc := Receiver{Name: "registry", Namespace: "apps", Type: TypeDistribution, Token: "t0k3n-for-distribution"}
	triggered := make(chan []string, 4)
	outcomes := make(chan string, 4)
	h, err := NewHandler([]Receiver{rc},
		func(_ context.Context, _ Receiver, req Request) error { triggered <- req.Images; return nil },
		WithObserver(func(_, outcome string) { outcomes <- outcome }))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	endpoint := notifications.NewEndpoint("hoist", srv.URL+rc.Path(), notifications.EndpointConfig{
		Headers:   http.Header{"Authorization": {"Bearer " + rc.Token}},
		Timeout:   5 * time.Second,
		Threshold: 3,
		Backoff:   10 * time.Millisecond,
		Transport: transport,
	})
	defer func() { _ = endpoint.Close() }()

	// The registry's side: a client pushed to registry.test:5000.
	push := httptest.NewRequest(http.MethodPut, "http://registry.test:5000/v2/acme/web/manifests/1.4.2", nil)
	ub := v2.NewURLBuilderFromRequest(push, false)
	bridge := notifications.NewBridge(ub, notifications.SourceRecord{Addr: "registry-0:5000"},
		notifications.ActorRecord{Name: "ci"}, notifications.NewRequestRecord("req-1", push), endpoint, false)
	repo, err := reference.WithName("acme/web")
	if err != nil {
		t.Fatal(err)
	}
	layer := v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: digest.FromString("layer"), Size: 5}
	config := v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.FromString("config"), Size: 6}
	manifest, err := ocischema.FromStruct(ocischema.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    config,
		Layers:    []v1.Descriptor{layer},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := bridge.BlobPushed(repo, layer); err != nil {
		t.Fatal(err)
	}
	if err := bridge.ManifestPushed(repo, manifest); err != nil { // by digest
		t.Fatal(err)
	}
	if err := bridge.ManifestPushed(repo, manifest, distribution.WithTag("1.4.2")); err != nil {
		t.Fatal(err)
	}

	var got []string
	for range 3 {
		select {
		case o := <-outcomes:
			got = append(got, o)
		case <-time.After(20 * time.Second):
			t.Fatalf("outcomes so far %q; the endpoint delivered no more", got)
		}
	}
	if diff := cmp.Diff([]string{OutcomeIgnored, OutcomeIgnored, OutcomeAccepted}, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"registry.test:5000/acme/web"}, <-triggered); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
}
