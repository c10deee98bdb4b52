//go:build image

package imagebuild_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hoist-dev/hoist/internal/imagebuild"
	"github.com/hoist-dev/hoist/internal/testenv"
)

const (
	testVersion  = "v0.0.0-imagetest"
	testRevision = "0123456789abcdef0123456789abcdef01234567"
)

var testCreated = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// compile builds the static binary for goos/goarch as make image does.
func compile(t *testing.T, goos, goarch, out string) {
	t.Helper()
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	ldflags := "-s -w -X main.version=" + testVersion + " -X main.commit=" + testRevision +
		" -X main.buildDate=" + testCreated.Format(time.RFC3339)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, "./cmd/hoist")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build for %s/%s: %v\n%s", goos, goarch, err, b)
	}
}

// TestImage builds the binaries once, then the image twice, pushes both
// builds to a registry on 127.0.0.1 and reads them back.
func TestImage(t *testing.T) {
	dir := t.TempDir()
	var platforms []imagebuild.Platform
	start := time.Now()
	for _, arch := range []string{"amd64", "arm64"} {
		bin := filepath.Join(dir, "hoist-linux-"+arch)
		compile(t, "linux", arch, bin)
		platforms = append(platforms, imagebuild.Platform{OS: "linux", Architecture: arch, Binary: bin})
	}
	t.Logf("binaries built in %s", time.Since(start).Round(time.Millisecond))
	opts := imagebuild.Options{Platforms: platforms, Created: testCreated, Version: testVersion, Revision: testRevision}

	ctx := context.Background()
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	var pushed [2]*imagebuild.Pushed
	var tags [2]name.Tag
	for i := range pushed {
		start := time.Now()
		res, err := imagebuild.Build(opts)
		if err != nil {
			t.Fatal(err)
		}
		if tags[i], err = name.NewTag(reg.Host + "/hoist:build" + string(rune('1'+i))); err != nil {
			t.Fatal(err)
		}
		if pushed[i], err = imagebuild.Push(ctx, tags[i], res); err != nil {
			t.Fatal(err)
		}
		t.Logf("build %d: %s in %s", i+1, pushed[i].Index, time.Since(start).Round(time.Millisecond))
	}

	t.Run("reproducible", func(t *testing.T) {
		if diff := cmp.Diff(pushed[0], pushed[1]); diff != "" {
			t.Errorf("two builds of the same inputs differ (-first +second):\n%s", diff)
		}
		// The registry serves the same digest for both tags.
		d0, err := remote.Head(tags[0])
		if err != nil {
			t.Fatal(err)
		}
		d1, err := remote.Head(tags[1])
		if err != nil {
			t.Fatal(err)
		}
		if d0.Digest != d1.Digest || d0.Digest != pushed[0].Index {
			t.Errorf("registry digests %s and %s, pushed %s", d0.Digest, d1.Digest, pushed[0].Index)
		}
	})

	idx, err := remote.Index(tags[0])
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.title":    "hoist",
		"org.opencontainers.image.source":   "https://github.com/hoist-dev/hoist",
		"org.opencontainers.image.version":  testVersion,
		"org.opencontainers.image.revision": testRevision,
		"org.opencontainers.image.licenses": "Apache-2.0",
		"org.opencontainers.image.created":  "2026-01-02T03:04:05Z",
	}

	t.Run("index", func(t *testing.T) {
		var got []string
		for _, m := range im.Manifests {
			got = append(got, m.Platform.OS+"/"+m.Platform.Architecture)
		}
		if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64"}, got); diff != "" {
			t.Errorf("platforms (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(wantLabels, im.Annotations); diff != "" {
			t.Errorf("index annotations (-want +got):\n%s", diff)
		}
		if im.MediaType != "application/vnd.oci.image.index.v1+json" {
			t.Errorf("index media type %s", im.MediaType)
		}
	})

	for i, m := range im.Manifests {
		arch := m.Platform.Architecture
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if mf, err := img.Manifest(); err == nil {
			var size int64
			for _, l := range mf.Layers {
				size += l.Size
			}
			t.Logf("%s: %s, layers %d bytes compressed", arch, m.Digest, size)
		}
		t.Run("config/"+arch, func(t *testing.T) {
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			want := v1.Config{
				User:       "65532:65532",
				Entrypoint: []string{"/usr/local/bin/hoist"},
				WorkingDir: "/home/nonroot",
				Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/nonroot", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
				Labels:     wantLabels,
			}
			if diff := cmp.Diff(want, cf.Config); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if cf.OS != "linux" || cf.Architecture != arch || !cf.Created.Equal(testCreated) {
				t.Errorf("config os %s, architecture %s, created %s", cf.OS, cf.Architecture, cf.Created)
			}
		})
		files := readLayers(t, img)
		t.Run("layers/"+arch, func(t *testing.T) {
			got := map[string]entry{}
			for n, e := range files {
				e.data = nil
				got[n] = e
			}
			dir := func(mode int64) entry { return entry{typ: tar.TypeDir, mode: mode} }
			reg := func(mode int64) entry { return entry{typ: tar.TypeReg, mode: mode} }
			want := map[string]entry{
				"etc/": dir(0o755), "etc/group": reg(0o644), "etc/passwd": reg(0o644),
				"etc/ssl/": dir(0o755), "etc/ssl/certs/": dir(0o755), "etc/ssl/certs/ca-certificates.crt": reg(0o644),
				"home/": dir(0o755), "home/nonroot/": {typ: tar.TypeDir, mode: 0o700, uid: 65532, gid: 65532},
				"tmp/": dir(0o1777),
				"usr/": dir(0o755), "usr/local/": dir(0o755), "usr/local/bin/": dir(0o755), "usr/local/bin/hoist": reg(0o755),
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(entry{})); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if p := string(files["etc/passwd"].data); !strings.Contains(p, "nonroot:x:65532:65532:") {
				t.Errorf("/etc/passwd has no user 65532:\n%s", p)
			}
			if g := string(files["etc/group"].data); !strings.Contains(g, "nonroot:x:65532:") {
				t.Errorf("/etc/group has no group 65532:\n%s", g)
			}
			if c := string(files["etc/ssl/certs/ca-certificates.crt"].data); !strings.Contains(c, "BEGIN CERTIFICATE") {
				t.Errorf("ca-certificates.crt holds no certificate")
			}
		})
		if arch == "amd64" {
			t.Run("run/"+arch, func(t *testing.T) {
				bin := filepath.Join(t.TempDir(), "hoist")
				if err := os.WriteFile(bin, files["usr/local/bin/hoist"].data, 0o755); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command(bin, "version", "-o", "json").Output()
				if err != nil {
					t.Fatalf("hoist version -o json: %v", err)
				}
				var v struct{ Version, Revision, BuildDate, GoVersion string }
				if err := json.Unmarshal(out, &v); err != nil {
					t.Fatalf("hoist version -o json: %v\n%s", err, out)
				}
				if v.Version != testVersion || v.Revision != testRevision || v.BuildDate != "2026-01-02T03:04:05Z" || v.GoVersion == "" {
					t.Errorf("hoist version -o json = %s", out)
				}
			})
		}
		t.Run("sbom/"+arch, func(t *testing.T) {
			repo := tags[0].Context()
			refs, err := remote.Referrers(repo.Digest(m.Digest.String()))
			if err != nil {
				t.Fatal(err)
			}
			rm, err := refs.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			if len(rm.Manifests) != 1 || rm.Manifests[0].ArtifactType != imagebuild.SBOMMediaType {
				t.Fatalf("referrers of %s: %+v, want one %s", m.Digest, rm.Manifests, imagebuild.SBOMMediaType)
			}
			if rm.Manifests[0].Digest != pushed[0].SBOMs[i] {
				t.Errorf("referrer %s, pushed %s", rm.Manifests[0].Digest, pushed[0].SBOMs[i])
			}
			sbomImg, err := remote.Image(repo.Digest(rm.Manifests[0].Digest.String()))
			if err != nil {
				t.Fatal(err)
			}
			layers, err := sbomImg.Layers()
			if err != nil || len(layers) != 1 {
				t.Fatalf("SBOM layers %d: %v", len(layers), err)
			}
			rc, err := layers[0].Compressed()
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := rc.Close(); err != nil {
					t.Error(err)
				}
			}()
			var doc struct {
				SPDXVersion string
				Packages    []struct{ Name, VersionInfo, LicenseDeclared string }
			}
			if err := json.NewDecoder(rc).Decode(&doc); err != nil {
				t.Fatal(err)
			}
			versions := map[string]string{}
			for _, p := range doc.Packages {
				versions[p.Name] = p.VersionInfo
			}
			if doc.SPDXVersion != "SPDX-2.3" || versions["github.com/hoist-dev/hoist"] != testVersion ||
				versions["github.com/google/go-containerregistry"] != "v0.22.1" || !strings.HasPrefix(versions["stdlib"], "go1.") {
				t.Errorf("SBOM %s: packages %v", doc.SPDXVersion, versions)
			}
		})
	}
}

// entry is a file of a layer.
type entry struct {
	typ      byte
	mode     int64
	uid, gid int
	data     []byte
}

// readLayers reads every file of img's layers, checking their times.
func readLayers(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]entry{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if !h.ModTime.Equal(testCreated) {
				t.Errorf("%s: time %s, want %s", h.Name, h.ModTime, testCreated)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = entry{typ: h.Typeflag, mode: h.Mode, uid: h.Uid, gid: h.Gid, data: data}
		}
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return files
}
