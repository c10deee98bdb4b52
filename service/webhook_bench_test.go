package service_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/registry/webhook"
	"github.com/hoist-dev/hoist/service"
)

// BenchmarkWebhook10k is the work of one webhook in BenchmarkScale10k: a
// distribution receiver names 10,000 ImageRepositories, and a notification
// names one image. The request is served in-process (the service is not
// run: its rescan is only triggered).
//
//   - each: every repository's image is compared with the request's, and
//     every repository's document is built for the resourceFilter (which
//     the receiver has not), as before;
//   - index: the receiver's repositories are keyed by image once per
//     configuration, the request's image is looked up, and a document is
//     built only for a receiver with a filter.
func BenchmarkWebhook10k(b *testing.B) {
	const repos, token = 10000, "bench-hook-token"
	var cfg strings.Builder
	names := make([]string, repos)
	for i := range repos {
		names[i] = fmt.Sprintf("{kind: ImageRepository, name: app%05d}", i)
		fmt.Fprintf(&cfg, "---\napiVersion: hoist.dev/v1alpha1\nkind: ImageRepository\nmetadata: {name: app%05[1]d, namespace: bench}\nspec: {image: registry.example.com/bench/app%05[1]d}\n", i)
	}
	fmt.Fprintf(&cfg, "---\napiVersion: hoist.dev/v1alpha1\nkind: Receiver\nmetadata: {name: registry, namespace: bench}\nspec:\n  type: distribution\n  resources: [%s]\n  secretRef: {name: hook}\n", strings.Join(names, ", "))
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hoist.yaml"), []byte(cfg.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	secrets := filepath.Join(dir, "secrets")
	if err := os.MkdirAll(filepath.Join(secrets, "hook"), 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secrets, "hook", "token"), []byte(token), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"each", "index"} {
		b.Run(mode, func(b *testing.B) {
			svc, err := service.NewService(service.ServiceOptions{
				Runner:      &automation.Runner{Scanner: &automation.Scanner{}, StateDir: b.TempDir(), SecretsDir: secrets},
				ConfigPaths: []string{filepath.Join(dir, "hoist.yaml")},
				Registry:    prometheus.NewRegistry(),
			})
			if err != nil {
				b.Fatal(err)
			}
			if mode == "each" {
				service.MatchWebhooksEach(svc)
			}
			if _, err := svc.Load(); err != nil {
				b.Fatal(err)
			}
			h := svc.HookHandler()
			path := webhook.Path(token, "registry", "bench")
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				body := fmt.Sprintf(`{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"bench/app%05d","tag":"1.0.%d"},"request":{"host":"registry.example.com"}}]}`, i%repos, i)
				req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/vnd.docker.distribution.events.v1+json")
				req.Header.Set("Authorization", "Bearer "+token)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusAccepted {
					b.Fatalf("webhook: %d %s", w.Code, w.Body)
				}
			}
		})
	}
}
