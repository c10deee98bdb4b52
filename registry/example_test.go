package registry_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// A Client is built once, with a cache under the state directory, and
// shared by every scan.
func ExampleNew() {
	cache, err := registry.OpenCache(filepath.Join(os.TempDir(), "hoist-example", "registry.db"), slog.Default())
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := cache.Close(); err != nil {
			log.Print(err)
		}
	}()
	client, err := registry.New(
		registry.WithCache(cache),
		registry.WithRateLimit(10, 20),
		registry.WithMaxConcurrency(4),
		registry.WithLogger(slog.Default()),
	)
	if err != nil {
		log.Fatal(err)
	}
	_ = client
}

// ListTags walks every page; when the registry fails transiently and the
// cache has an earlier list, that list is served and marked stale. A refusal
// of the credentials or a missing repository is an error, cache or not.
func ExampleClient_ListTags() {
	client, err := registry.New()
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	tags, err := client.ListTags(ctx, registry.Repo{Image: "ghcr.io/stefanprodan/podinfo", Timeout: time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	if tags.Stale {
		log.Printf("registry unavailable (%v); using the list of %v", tags.Err, tags.FetchedAt)
	}
	fmt.Println(len(tags.Tags))
}

// ClassifyError tells a fault that may heal from one that will not: only
// a transient one lets a cached answer stand in.
func ExampleClassifyError() {
	for _, err := range []error{
		&registry.HTTPError{Method: "GET", URL: "https://r.example/v2/app/tags/list", StatusCode: 503},
		&registry.HTTPError{Method: "GET", URL: "https://r.example/v2/app/tags/list", StatusCode: 401, Code: "UNAUTHORIZED"},
		&registry.HTTPError{Method: "GET", URL: "https://r.example/v2/app/tags/list", StatusCode: 404, Code: "NAME_UNKNOWN"},
		fmt.Errorf("listing tags: %w", context.DeadlineExceeded),
	} {
		fmt.Println(registry.ClassifyError(err))
	}
	// Output:
	// transient
	// credentials
	// not found
	// transient
}

// Facts fetch what a policy needs, only when it needs it: a newestBuild
// rule needs build times, a platforms filter needs platforms.
func ExampleClient_Facts() {
	client, err := registry.New()
	if err != nil {
		log.Fatal(err)
	}
	f, err := client.Facts(context.Background(), registry.Repo{Image: "nginx"}, "1.27",
		registry.Need{Created: true, Platforms: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Digest, f.Created, f.Platforms)
}

// A secretRef names a registry secret in the secrets directory, laid out as
// Kubernetes mounts it: DIR/NAME/.dockerconfigjson.
func ExampleReadDockerConfigSecret() {
	dir, err := os.MkdirTemp("", "secrets")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if err := os.MkdirAll(filepath.Join(dir, "regcred"), 0o700); err != nil {
		log.Fatal(err)
	}
	secret := `{"auths":{"registry.example.com":{"auth":"cm9ib3Q6czNjcjN0"}}}`
	if err := os.WriteFile(filepath.Join(dir, "regcred", ".dockerconfigjson"), []byte(secret), 0o600); err != nil {
		log.Fatal(err)
	}

	creds, err := registry.ReadDockerConfigSecret(dir, "regcred")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(creds) // printing shows registries, never secrets
	repo := registry.Repo{Image: "registry.example.com/team/app", Keychain: creds}
	_ = repo
	// Output: DockerConfig(auths: registry.example.com)
}

// Verify tells whether a digest carries a cosign signature by the key:
// here a Sigstore bundle, as cosign v3 `sign --key` pushes it, found as a
// referrer of the digest. A digest signed by another key is refused with
// the reason; a verified digest is remembered, so asking again sends no
// request.
func ExampleClient_Verify() {
	tb := testenv.NewExample("ExampleClient_Verify")
	defer tb.Close()
	reg := testenv.NewRegistry(tb, testenv.RegistryOptions{})
	signer, stranger := testenv.NewCosignKey(tb), testenv.NewCosignKey(tb)
	signed := reg.PushImage(tb, "apps/web", "1.0.0", testenv.ImageOptions{})
	reg.SignBundle(tb, "apps/web", signed, signer, testenv.BundleOptions{})
	other := reg.PushImage(tb, "apps/web", "1.1.0", testenv.ImageOptions{})
	reg.SignBundle(tb, "apps/web", other, stranger, testenv.BundleOptions{})

	key, err := registry.ParseCosignKey(signer.PublicPEM) // cosign.pub
	if err != nil {
		log.Fatal(err)
	}
	client, err := registry.New()
	if err != nil {
		log.Fatal(err)
	}
	repo := registry.Repo{Image: reg.Host + "/apps/web"}
	for _, d := range []string{signed, other, signed} {
		v, err := client.Verify(context.Background(), repo, d, key)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("verified=%t cached=%t", v.Verified, v.Cached)
		if v.Reason != "" {
			fmt.Print(" (", v.Reason, ")")
		}
		fmt.Println()
	}
	// Output:
	// verified=true cached=false
	// verified=false cached=false (1 cosign signature, none valid for the key: Sigstore bundle's signature does not verify with the key)
	// verified=true cached=true
}
