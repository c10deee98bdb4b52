package registry_test

import (
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// signedRegistry is a registry holding images to verify, each signed (or
// not) as its tag says, with its way of pushing signatures.
type signedRegistry struct {
	repo string // full repository reference
	sign func(t *testing.T, digest string, key *testenv.CosignKey, form testenv.SignatureForm)
	// bundle signs in the Sigstore bundle form (cosign v3's).
	bundle func(t *testing.T, digest string, key *testenv.CosignKey, o testenv.BundleOptions)
	push   func(t *testing.T, tag string) string
}

// distributionRegistry is Distribution, which has no referrers API: a
// referrer is found through the referrers tag.
func distributionRegistry(t *testing.T) (*signedRegistry, *testenv.Registry) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	return &signedRegistry{
		repo: reg.Ref("app", ""),
		sign: func(t *testing.T, d string, k *testenv.CosignKey, f testenv.SignatureForm) {
			reg.Sign(t, "app", d, k, f)
		},
		bundle: func(t *testing.T, d string, k *testenv.CosignKey, o testenv.BundleOptions) {
			reg.SignBundle(t, "app", d, k, o)
		},
		push: func(t *testing.T, tag string) string { return reg.PushImage(t, "app", tag, testenv.ImageOptions{}) },
	}, reg
}

// referrersRegistry is go-containerregistry's registry with the OCI 1.1
// referrers API on.
func referrersRegistry(t *testing.T) *signedRegistry {
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.WithReferrersSupport(true), ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	repo := strings.TrimPrefix(srv.URL, "http://") + "/app"
	return &signedRegistry{
		repo: repo,
		sign: func(t *testing.T, d string, k *testenv.CosignKey, f testenv.SignatureForm) {
			testenv.SignImage(t, repo, d, k, f, remote.WithContext(t.Context()))
		},
		bundle: func(t *testing.T, d string, k *testenv.CosignKey, o testenv.BundleOptions) {
			testenv.SignImageBundle(t, repo, d, k, o, remote.WithContext(t.Context()))
		},
		push: func(t *testing.T, tag string) string {
			img := testenv.NewImage(t, testenv.ImageOptions{})
			ref, err := name.NewTag(repo+":"+tag, name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(ref, img, remote.WithContext(t.Context())); err != nil {
				t.Fatal(err)
			}
			d, err := img.Digest()
			if err != nil {
				t.Fatal(err)
			}
			return d.String()
		},
	}
}

// otherDigest is a digest no test image has.
const otherDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestVerify(t *testing.T) {
	key := testenv.NewCosignKey(t)
	other := testenv.NewCosignKey(t)
	parsed, err := registry.ParseCosignKey(key.PublicPEM)
	if err != nil {
		t.Fatal(err)
	}
	dist, _ := distributionRegistry(t)
	registries := map[string]*signedRegistry{
		"distribution (referrers tag)": dist,
		"referrers API":                referrersRegistry(t),
	}
	// Each case pushes its own image and signs it as it says.
	tests := map[string]struct {
		sign      func(t *testing.T, r *signedRegistry, digest string)
		want      registry.Verification
		wantWhere string // prefix
	}{
		"signature tag": {
			sign:      func(t *testing.T, r *signedRegistry, d string) { r.sign(t, d, key, testenv.SignatureTag) },
			want:      registry.Verification{Verified: true},
			wantWhere: "tag sha256-",
		},
		"referrer": {
			sign:      func(t *testing.T, r *signedRegistry, d string) { r.sign(t, d, key, testenv.SignatureReferrer) },
			want:      registry.Verification{Verified: true},
			wantWhere: "referrer sha256:",
		},
		"unsigned": {
			sign: func(*testing.T, *signedRegistry, string) {},
			want: registry.Verification{Reason: "no cosign signature"},
		},
		"signed by another key (tag)": {
			sign: func(t *testing.T, r *signedRegistry, d string) { r.sign(t, d, other, testenv.SignatureTag) },
			want: registry.Verification{Reason: "1 cosign signature, none valid for the key: signature does not verify with the key"},
		},
		"signed by another key (referrer)": {
			sign: func(t *testing.T, r *signedRegistry, d string) { r.sign(t, d, other, testenv.SignatureReferrer) },
			want: registry.Verification{Reason: "1 cosign signature, none valid for the key: signature does not verify with the key"},
		},
		"bundle (cosign v3)": {
			sign:      func(t *testing.T, r *signedRegistry, d string) { r.bundle(t, d, key, testenv.BundleOptions{}) },
			want:      registry.Verification{Verified: true},
			wantWhere: "referrer sha256:",
		},
		"bundle listed under the empty config type (cosign issue 4422)": {
			sign: func(t *testing.T, r *signedRegistry, d string) {
				r.bundle(t, d, key, testenv.BundleOptions{NoArtifactType: true})
			},
			want:      registry.Verification{Verified: true},
			wantWhere: "referrer sha256:",
		},
		"bundle with a message signature": {
			sign: func(t *testing.T, r *signedRegistry, d string) {
				r.bundle(t, d, key, testenv.BundleOptions{MessageSignature: true})
			},
			want:      registry.Verification{Verified: true},
			wantWhere: "referrer sha256:",
		},
		"bundle signed by another key": {
			sign: func(t *testing.T, r *signedRegistry, d string) { r.bundle(t, d, other, testenv.BundleOptions{}) },
			want: registry.Verification{Reason: "1 cosign signature, none valid for the key: Sigstore bundle's signature does not verify with the key"},
		},
		"bundle naming another digest": {
			sign: func(t *testing.T, r *signedRegistry, d string) {
				r.bundle(t, d, key, testenv.BundleOptions{Subject: otherDigest})
			},
			want: registry.Verification{Reason: "1 cosign signature, none valid for the key: Sigstore bundle signs " + otherDigest + ", not this digest"},
		},
		"message signature bundle of another digest": {
			sign: func(t *testing.T, r *signedRegistry, d string) {
				r.bundle(t, d, key, testenv.BundleOptions{Subject: otherDigest, MessageSignature: true})
			},
			want: registry.Verification{Reason: "1 cosign signature, none valid for the key: Sigstore bundle signs " + otherDigest + ", not this digest"},
		},
		"bundle whose payload was changed": {
			sign: func(t *testing.T, r *signedRegistry, d string) {
				r.bundle(t, d, key, testenv.BundleOptions{TamperPayload: true})
			},
			want: registry.Verification{Reason: "1 cosign signature, none valid for the key: Sigstore bundle's signature does not verify with the key"},
		},
		"attestation bundle only": {
			sign: func(t *testing.T, r *signedRegistry, d string) {
				r.bundle(t, d, key, testenv.BundleOptions{PredicateType: "https://slsa.dev/provenance/v1"})
			},
			want: registry.Verification{Reason: "no cosign signature"},
		},
		"bundle by another key and a classic signature": {
			sign: func(t *testing.T, r *signedRegistry, d string) {
				r.bundle(t, d, other, testenv.BundleOptions{})
				r.sign(t, d, key, testenv.SignatureTag)
			},
			want:      registry.Verification{Verified: true},
			wantWhere: "tag sha256-",
		},
		"both keys, one valid": {
			sign: func(t *testing.T, r *signedRegistry, d string) {
				r.sign(t, d, other, testenv.SignatureReferrer)
				r.sign(t, d, key, testenv.SignatureTag)
			},
			want:      registry.Verification{Verified: true},
			wantWhere: "tag sha256-",
		},
	}
	n := 0
	for rname, r := range registries {
		for name, tc := range tests {
			n++
			t.Run(rname+"/"+name, func(t *testing.T) {
				d := r.push(t, fmt.Sprintf("case-%d", n))
				tc.sign(t, r, d)
				c := newClient(t, newFakeClock())
				got, err := c.Verify(t.Context(), registry.Repo{Image: r.repo}, d, parsed)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(got.Where, tc.wantWhere) || (tc.wantWhere == "") != (got.Where == "") {
					t.Errorf("Where = %q, want prefix %q", got.Where, tc.wantWhere)
				}
				if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(registry.Verification{}, "Where")); diff != "" {
					t.Errorf("Verify (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// A signature whose payload names another digest does not verify this one,
// even when it is valid and sits under this digest's .sig tag.
func TestVerifyPayloadOfAnotherDigest(t *testing.T) {
	key := testenv.NewCosignKey(t)
	parsed, err := registry.ParseCosignKey(key.PublicPEM)
	if err != nil {
		t.Fatal(err)
	}
	r, reg := distributionRegistry(t)
	a := r.push(t, "a")
	b := r.push(t, "b")
	r.sign(t, b, key, testenv.SignatureTag)
	// Copy b's signature to a's .sig tag.
	sigOfB := reg.Ref("app", "sha256-"+strings.TrimPrefix(b, "sha256:")+".sig")
	desc, err := remote.Get(mustRef(t, sigOfB))
	if err != nil {
		t.Fatal(err)
	}
	reg.Tag(t, "app", desc.Digest.String(), "sha256-"+strings.TrimPrefix(a, "sha256:")+".sig")

	got, err := newClient(t, newFakeClock()).Verify(t.Context(), registry.Repo{Image: r.repo}, a, parsed)
	if err != nil {
		t.Fatal(err)
	}
	want := registry.Verification{Reason: "1 cosign signature, none valid for the key: payload signs " + b + ", not this digest"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Verify (-want +got):\n%s", diff)
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// A verified digest is asked about once per key: the second Verify, in the
// same process or (through the cache file) in the next, sends no request.
// An unsigned digest is asked about again, since it may be signed later.
func TestVerifyCache(t *testing.T) {
	key := testenv.NewCosignKey(t)
	parsed, err := registry.ParseCosignKey(key.PublicPEM)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := registry.ParseCosignKey(testenv.NewCosignKey(t).PublicPEM)
	if err != nil {
		t.Fatal(err)
	}
	r, reg := distributionRegistry(t)
	signed := r.push(t, "signed")
	r.sign(t, signed, key, testenv.SignatureTag)
	unsigned := r.push(t, "unsigned")
	bundled := r.push(t, "bundled")
	r.bundle(t, bundled, key, testenv.BundleOptions{})
	repo := registry.Repo{Image: r.repo}
	cachePath := filepath.Join(t.TempDir(), "cache.db")

	open := func() (*registry.Client, *registry.Cache) {
		cache, err := registry.OpenCache(cachePath, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cache.Close() })
		return newClient(t, newFakeClock(), registry.WithCache(cache)), cache
	}
	first, firstCache := open()
	steps := []struct {
		name    string
		c       func() *registry.Client
		digest  string
		key     *registry.CosignKey
		want    registry.Verification
		wantReq bool
	}{
		{"first verification", func() *registry.Client { return first }, signed, parsed, registry.Verification{Verified: true}, true},
		{"again, same process", func() *registry.Client { return first }, signed, parsed, registry.Verification{Verified: true, Cached: true}, false},
		{"unsigned", func() *registry.Client { return first }, unsigned, parsed, registry.Verification{Reason: "no cosign signature"}, true},
		{"unsigned again", func() *registry.Client { return first }, unsigned, parsed, registry.Verification{Reason: "no cosign signature"}, true},
		{"another key", func() *registry.Client { return first }, signed, otherKey, registry.Verification{Reason: "1 cosign signature, none valid for the key: signature does not verify with the key"}, true},
		{"Sigstore bundle", func() *registry.Client { return first }, bundled, parsed, registry.Verification{Verified: true}, true},
		{"Sigstore bundle again", func() *registry.Client { return first }, bundled, parsed, registry.Verification{Verified: true, Cached: true}, false},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			reg.Faults.ResetLog()
			got, err := s.c().Verify(t.Context(), repo, s.digest, s.key)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(s.want, got, cmpopts.IgnoreFields(registry.Verification{}, "Where")); diff != "" {
				t.Errorf("Verify (-want +got):\n%s", diff)
			}
			if n := len(reg.Faults.Log()); (n > 0) != s.wantReq {
				t.Errorf("%d requests, want requests: %t", n, s.wantReq)
			}
		})
	}
	// The next process reads the verified digest from the cache file.
	if err := firstCache.Close(); err != nil {
		t.Fatal(err)
	}
	next, _ := open()
	reg.Faults.ResetLog()
	got, err := next.Verify(t.Context(), repo, signed, parsed)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(registry.Verification{Verified: true, Cached: true}, got); diff != "" {
		t.Errorf("Verify in the next process (-want +got):\n%s", diff)
	}
	if n := len(reg.Faults.Log()); n != 0 {
		t.Errorf("the next process sent %d requests for a cached verification, want 0", n)
	}
	got, err = next.Verify(t.Context(), repo, bundled, parsed)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(registry.Verification{Verified: true, Cached: true}, got); diff != "" {
		t.Errorf("Verify of the bundle-signed digest in the next process (-want +got):\n%s", diff)
	}
	if n := len(reg.Faults.Log()); n != 0 {
		t.Errorf("the next process sent %d requests for a cached bundle verification, want 0", n)
	}
}

func TestReadCosignKeySecret(t *testing.T) {
	a, b := testenv.NewCosignKey(t), testenv.NewCosignKey(t)
	dir := t.TempDir()
	write := func(secret, key string, data []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, secret), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, secret, key), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("one", "cosign.pub", a.PublicPEM)
	write("two", "cosign.pub", a.PublicPEM)
	write("two", "release.pub", b.PublicPEM)
	write("two", "README", []byte("not a key"))
	write("bad", "cosign.pub", []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	write("nokey", "token", []byte("x"))
	one, _ := registry.ParseCosignKey(a.PublicPEM)
	two, _ := registry.ParseCosignKey(b.PublicPEM, a.PublicPEM)

	tests := map[string]struct {
		secret  string
		wantID  string
		wantErr string
	}{
		"cosign.pub":        {secret: "one", wantID: one.ID()},
		"every .pub key":    {secret: "two", wantID: two.ID()},
		"bad PEM":           {secret: "bad", wantErr: "bad/cosign.pub: invalid cosign public key"},
		"no .pub key":       {secret: "nokey", wantErr: "nokey/cosign.pub does not exist (nor any other key ending in .pub)"},
		"missing secret":    {secret: "missing", wantErr: "missing/cosign.pub does not exist"},
		"not a secret name": {secret: "../one", wantErr: "not a secret name"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			k, err := registry.ReadCosignKeySecret(dir, tc.secret)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.ID() != tc.wantID {
				t.Errorf("ID = %s, want %s (the same keys in any order)", k.ID(), tc.wantID)
			}
		})
	}
	if one.ID() == two.ID() {
		t.Error("two key sets have the same ID")
	}
}
