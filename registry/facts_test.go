package registry_test

import (
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

func TestDigest(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{Auth: testenv.AuthToken})
	want := reg.PushImage(t, "app", "v1", testenv.ImageOptions{})
	repo := registry.Repo{Image: reg.Ref("app", ""), Keychain: secretFor(t, reg.Host, reg.Username, reg.Password)}

	tests := map[string]struct {
		faults            []testenv.Fault
		tag               string
		wantErr           error
		wantHead, wantGet int
	}{
		"HEAD answers":              {tag: "v1", wantHead: 1},
		"unknown tag":               {tag: "v2", wantErr: registry.ErrNotFound, wantHead: 1},
		"HEAD refused, GET instead": {tag: "v1", faults: []testenv.Fault{{Method: "HEAD", Path: testenv.ManifestsPath, Do: testenv.Status(http.StatusMethodNotAllowed)}}, wantGet: 1},
		"HEAD without digest, GET instead": {
			tag: "v1", faults: []testenv.Fault{{Method: "HEAD", Path: testenv.ManifestsPath, Do: stripHeader("Docker-Content-Digest")}},
			wantHead: 1, wantGet: 1,
		},
		"invalid tag": {tag: "-bad", wantErr: registry.ErrInvalidTag},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			reg.Faults.Clear()
			for _, f := range tc.faults {
				reg.Faults.Add(f)
			}
			c := newClient(t, newFakeClock())
			got, err := c.Digest(t.Context(), repo, tc.tag)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Digest error = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && got != want {
				t.Errorf("Digest = %q, want %q", got, want)
			}
			if h, g := reg.Faults.Reached("HEAD", testenv.ManifestsPath), reg.Faults.Reached("GET", testenv.ManifestsPath); h != tc.wantHead || g != tc.wantGet {
				t.Errorf("manifest requests reaching the registry: HEAD %d, GET %d; want %d, %d", h, g, tc.wantHead, tc.wantGet)
			}
		})
	}
}

// stripHeader passes the request and removes a header from the answer.
func stripHeader(h string) testenv.FaultAction {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler, _ *testenv.Faults) {
		next.ServeHTTP(&headerStripper{ResponseWriter: w, header: h}, r)
	}
}

type headerStripper struct {
	http.ResponseWriter
	header string
}

func (s *headerStripper) WriteHeader(code int) {
	s.Header().Del(s.header)
	s.ResponseWriter.WriteHeader(code)
}

func TestFacts(t *testing.T) {
	built := time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)
	labelled := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	annotated := time.Date(2023, 3, 3, 3, 3, 3, 0, time.UTC)
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	digests := map[string]string{
		"created":     reg.PushImage(t, "app", "created", testenv.ImageOptions{Created: built, Platform: "linux/arm64/v8"}),
		"epoch":       reg.PushImage(t, "app", "epoch", testenv.ImageOptions{Created: time.Unix(0, 0), Labels: map[string]string{"org.opencontainers.image.created": labelled.Format(time.RFC3339)}}),
		"annotation":  reg.PushImage(t, "app", "annotation", testenv.ImageOptions{Annotations: map[string]string{"org.opencontainers.image.created": annotated.Format(time.RFC3339)}}),
		"unknown":     reg.PushImage(t, "app", "unknown", testenv.ImageOptions{}),
		"index":       reg.PushIndex(t, "app", "index", built, nil, "linux/amd64", "linux/arm64/v8"),
		"index-annot": reg.PushIndex(t, "app", "index-annot", built, map[string]string{"org.opencontainers.image.created": annotated.Format(time.RFC3339)}, "linux/amd64", "linux/s390x"),
	}
	repo := registry.Repo{Image: reg.Ref("app", "")}

	tests := map[string]struct {
		tag  string
		need registry.Need
		want registry.Facts
		// requests reaching the registry for manifests and blobs
		wantManifestGets, wantBlobGets int
	}{
		"config created": {
			tag: "created", need: registry.Need{Created: true, Platforms: true},
			want:             registry.Facts{Created: built, Platforms: []string{"linux/arm64/v8"}},
			wantManifestGets: 1, wantBlobGets: 1,
		},
		"epoch created falls back to the label": {
			tag: "epoch", need: registry.Need{Created: true},
			want:             registry.Facts{Created: labelled, Platforms: []string{"linux/amd64"}},
			wantManifestGets: 1, wantBlobGets: 1,
		},
		"no created, manifest annotation": {
			tag: "annotation", need: registry.Need{Created: true},
			want:             registry.Facts{Created: annotated, Platforms: []string{"linux/amd64"}},
			wantManifestGets: 1, wantBlobGets: 1,
		},
		"no build time at all": {
			tag: "unknown", need: registry.Need{Created: true},
			want:             registry.Facts{Platforms: []string{"linux/amd64"}},
			wantManifestGets: 1, wantBlobGets: 1,
		},
		"index platforms only": {
			tag: "index", need: registry.Need{Platforms: true},
			want:             registry.Facts{Platforms: []string{"linux/amd64", "linux/arm64/v8"}},
			wantManifestGets: 1,
		},
		"index created from its linux/amd64 image": {
			tag: "index", need: registry.Need{Created: true, Platforms: true},
			want:             registry.Facts{Created: built, Platforms: []string{"linux/amd64", "linux/arm64/v8"}},
			wantManifestGets: 2, wantBlobGets: 1,
		},
		"index created from its annotation": {
			tag: "index-annot", need: registry.Need{Created: true},
			want:             registry.Facts{Created: annotated, Platforms: []string{"linux/amd64", "linux/s390x"}},
			wantManifestGets: 1,
		},
		"digest only": {
			tag: "created", need: registry.Need{Digest: true},
			want: registry.Facts{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			reg.Faults.Clear()
			cache := openCache(t, filepath.Join(t.TempDir(), "cache.db"))
			c := newClient(t, newFakeClock(), registry.WithCache(cache))
			got, err := c.Facts(t.Context(), repo, tc.tag, tc.need)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Digest = digests[tc.tag]
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Facts (-want +got):\n%s", diff)
			}
			if g, b := reg.Faults.Reached("GET", testenv.ManifestsPath), reg.Faults.Reached("GET", testenv.BlobsPath); g != tc.wantManifestGets || b != tc.wantBlobGets {
				t.Errorf("GET requests: manifests %d, blobs %d; want %d, %d", g, b, tc.wantManifestGets, tc.wantBlobGets)
			}

			// Asked again, the facts come from the cache: no request at all.
			reg.Faults.Clear()
			again, err := c.Facts(t.Context(), repo, tc.tag, tc.need)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("Facts from cache (-first +again):\n%s", diff)
			}
			wantAgain := 0
			if !tc.need.Created && !tc.need.Platforms {
				wantAgain = 1 // a digest alone is always asked for
			}
			if n := len(reg.Faults.Log()); n != wantAgain {
				t.Errorf("second Facts made %d requests, want %d: %+v", n, wantAgain, reg.Faults.Log())
			}
		})
	}
}

func openCache(t testing.TB, path string) *registry.Cache {
	t.Helper()
	c, err := registry.OpenCache(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

func TestFactsMovedTag(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	old := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	newer := old.Add(24 * time.Hour)
	reg.PushImage(t, "app", "v1", testenv.ImageOptions{Created: old})
	repo := registry.Repo{Image: reg.Ref("app", "")}
	clock := newFakeClock()
	c := newClient(t, clock, registry.WithCache(openCache(t, filepath.Join(t.TempDir(), "c.db"))), registry.WithTagTTL(time.Hour))
	need := registry.Need{Created: true}
	if f, err := c.Facts(t.Context(), repo, "v1", need); err != nil || !f.Created.Equal(old) {
		t.Fatalf("Facts = %+v, %v; want created %v", f, err, old)
	}
	d := reg.PushImage(t, "app", "v1", testenv.ImageOptions{Created: newer})

	// Within the TTL the known digest is trusted.
	if f, err := c.Facts(t.Context(), repo, "v1", need); err != nil || !f.Created.Equal(old) {
		t.Fatalf("Facts within TTL = %+v, %v; want the cached %v", f, err, old)
	}
	// Digest always asks.
	if got, err := c.Digest(t.Context(), repo, "v1"); err != nil || got != d {
		t.Fatalf("Digest = %q, %v; want %q", got, err, d)
	}
	clock.Advance(2 * time.Hour)
	if f, err := c.Facts(t.Context(), repo, "v1", need); err != nil || !f.Created.Equal(newer) || f.Digest != d {
		t.Fatalf("Facts after TTL = %+v, %v; want %v, %s", f, err, newer, d)
	}
}
