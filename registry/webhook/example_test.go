package webhook_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hoist-dev/hoist/registry/webhook"
)

// Path is Flux's: a sender configured for a Flux Receiver works unchanged.
func ExamplePath() {
	fmt.Println(webhook.Path("s3cr3t", "github-receiver", "flux-system"))
	// Output: /hook/605dbd4976c3504a20afec155a68122702621389b3b29f71feb118008a1696a1
}

// Key is how a request's image and an ImageRepository's spec.image are
// compared: a caller with many resources keys them by it once.
func ExampleKey() {
	byImage := map[string][]string{}
	for name, image := range map[string]string{"apps/web": "acme/web", "apps/api": "ghcr.io/acme/api:1.0"} {
		if k, ok := webhook.Key(image); ok {
			byImage[k] = append(byImage[k], name)
		}
	}
	for _, sent := range []string{"docker.io/acme/web", "GHCR.io/acme/api@sha256:0f", "quay.io/acme/web"} {
		k, _ := webhook.Key(sent)
		fmt.Println(sent, "->", k, byImage[k])
	}
	// Output:
	// docker.io/acme/web -> docker.io/acme/web [apps/web]
	// GHCR.io/acme/api@sha256:0f -> ghcr.io/acme/api [apps/api]
	// quay.io/acme/web -> quay.io/acme/web []
}

// Tokens live where Kubernetes mounts Secrets: DIR/NAME/token.
func ExampleReadToken() {
	dir, err := os.MkdirTemp("", "secrets")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if err := os.MkdirAll(filepath.Join(dir, "hook"), 0o700); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hook", "token"), []byte("s3cr3t\n"), 0o600); err != nil {
		log.Fatal(err)
	}
	token, err := webhook.ReadToken(dir, "hook")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(webhook.Path(token, "github-receiver", "flux-system"))
	// Output: /hook/605dbd4976c3504a20afec155a68122702621389b3b29f71feb118008a1696a1
}

// A Handler serves every receiver at its path. The trigger picks the
// receiver's ImageRepositories whose image the payload names and hands them
// to a Coalescer, whose runs have the service's context.
func ExampleNewHandler() {
	// What the service knows: each ImageRepository's spec.image.
	images := map[string]string{"apps/web": "acme/web", "apps/api": "ghcr.io/acme/api"}
	receiver := webhook.Receiver{
		Name: "hub", Namespace: "apps", Type: webhook.TypeDockerHub, Token: "s3cr3t",
		Resources: []string{"apps/api", "apps/web"},
	}

	serviceCtx := context.Background()
	var mu sync.Mutex
	var rescanned []string
	rescans := webhook.NewCoalescer(func(ctx context.Context, repo string) {
		mu.Lock() // the service would scan repo here
		defer mu.Unlock()
		rescanned = append(rescanned, repo)
	})
	h, err := webhook.NewHandler([]webhook.Receiver{receiver},
		func(_ context.Context, r webhook.Receiver, req webhook.Request) error {
			for _, repo := range r.Resources {
				if webhook.Selects(req.Images, images[repo]) {
					rescans.Trigger(serviceCtx, repo)
				}
			}
			return nil
		},
		webhook.WithLogger(slog.New(slog.DiscardHandler)),
		webhook.WithBodyLimit(64<<10),
		webhook.WithObserver(func(receiver, outcome string) { fmt.Println(receiver, outcome) }),
	)
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(h) // the service mounts h at /hook/ on its listener
	defer srv.Close()

	payload := `{"push_data": {"tag": "1.4.2"}, "repository": {"repo_name": "acme/web"}}`
	resp, err := http.Post(srv.URL+receiver.Path(), "application/json", strings.NewReader(payload))
	if err != nil {
		log.Fatal(err)
	}
	_ = resp.Body.Close()
	fmt.Println(resp.Status)
	if err := rescans.Wait(serviceCtx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(rescanned)
	// Output:
	// apps/hub accepted
	// 202 Accepted
	// [apps/web]
}

// Parse reads a payload; its tags are for logs only.
func ExampleParse() {
	body := []byte(`{"type": "PUSH_ARTIFACT", "event_data": {"resources": [
		{"tag": "1.4.2", "resource_url": "harbor.example.com/platform/web:1.4.2"}]}}`)
	ev, err := webhook.Parse(webhook.TypeHarbor, nil, body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ev.Images, ev.Tags)
	// Output: [harbor.example.com/platform/web] [1.4.2]
}

func ExampleNormalize() {
	for _, s := range []string{"nginx", "index.docker.io/acme/web:1.0", "ghcr.io/Acme/Web", "localhost:5000/app"} {
		n, err := webhook.Normalize(s)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(n)
	}
	// Output:
	// docker.io/library/nginx
	// docker.io/acme/web
	// ghcr.io/acme/web
	// localhost:5000/app
}

func ExampleMatch() {
	fmt.Println(webhook.Match("nginx", "docker.io/library/nginx:1.29"))
	fmt.Println(webhook.Match("ghcr.io/acme/web", "ghcr.io/Acme/web"))
	fmt.Println(webhook.Match("ghcr.io/acme/web", "quay.io/acme/web"))
	// Output:
	// true
	// true
	// false
}

// A storm of requests for one repository makes one run in flight and one
// pending; the rest are folded into the pending run.
func ExampleCoalescer() {
	ctx := context.Background()
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	c := webhook.NewCoalescer(func(ctx context.Context, repo string) {
		started <- struct{}{}
		<-release // a slow scan
	})
	fmt.Println(c.Trigger(ctx, "apps/web"))
	<-started
	fmt.Println(c.Trigger(ctx, "apps/web"))
	fmt.Println(c.Trigger(ctx, "apps/web"))
	close(release)
	if err := c.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// started
	// queued
	// folded
}
