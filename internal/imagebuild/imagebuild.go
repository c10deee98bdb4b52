// Package imagebuild assembles hoist's container image without a Docker
// daemon and without a base image: layers of files written here (the static
// binary, CA certificates, /etc/passwd and /etc/group, /tmp) appended onto
// go-containerregistry's empty image, one image per platform in an OCI
// index. Every byte is fixed by the inputs (file times from Created, sorted
// entries, uid and gid in the tars), so two builds of one commit give one
// digest.
package imagebuild

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's fixed contents.
const (
	// BinaryPath is where the hoist binary is, the image's entrypoint.
	BinaryPath = "/usr/local/bin/hoist"
	// CACertPath is where the CA certificates are, in the image and on
	// Debian, where they are read from at build time.
	CACertPath = "/etc/ssl/certs/ca-certificates.crt"
	// UID and GID are the non-root user the image runs as ("nonroot").
	UID, GID = 65532, 65532
	// Home is the user's home directory.
	Home = "/home/nonroot"
	// License is the SPDX identifier of the licenses label.
	License = "Apache-2.0"
)

// ErrNoCACerts is returned when the CA certificates to copy are missing.
var ErrNoCACerts = errors.New("no CA certificates (on Debian: apt-get install ca-certificates)")

// Platform is one image of the index: a platform and its binary.
type Platform struct {
	OS, Architecture string
	// Binary is the path of the static hoist binary built for the platform.
	Binary string
}

func (p Platform) String() string { return p.OS + "/" + p.Architecture }

// Options describe an image. Platforms, Created and Version are required.
type Options struct {
	Platforms []Platform
	// Created is the time of every file, of the config and of the history:
	// the commit's time (SOURCE_DATE_EPOCH), for reproducible builds.
	Created time.Time
	// Version and Revision are the version and Git commit of the labels.
	Version, Revision string
	// Source is the org.opencontainers.image.source label. Default:
	// https://github.com/hoist-dev/hoist.
	Source string
	// CACerts is the PEM bundle to copy. Default: CACertPath.
	CACerts string
}

// Result is a built image: the index and, per platform in the order of
// Options.Platforms, its image and software bill of materials.
type Result struct {
	Index  v1.ImageIndex
	Images []PlatformImage
}

// PlatformImage is one platform's image and its SBOM (an SPDX 2.3 JSON
// document of the binary's modules).
type PlatformImage struct {
	Platform Platform
	Image    v1.Image
	SBOM     []byte
}

// Labels are the image's OCI labels (also the index's annotations).
func (o Options) Labels() map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":    "hoist",
		"org.opencontainers.image.source":   o.Source,
		"org.opencontainers.image.version":  o.Version,
		"org.opencontainers.image.licenses": License,
		"org.opencontainers.image.created":  o.Created.UTC().Format(time.RFC3339),
	}
	if o.Revision != "" {
		l["org.opencontainers.image.revision"] = o.Revision
	}
	return l
}

func (o *Options) validate() error {
	if len(o.Platforms) == 0 {
		return errors.New("no platforms")
	}
	if o.Created.IsZero() {
		return errors.New("no creation time (SOURCE_DATE_EPOCH)")
	}
	if o.Version == "" {
		return errors.New("no version")
	}
	if o.Source == "" {
		o.Source = "https://github.com/hoist-dev/hoist"
	}
	if o.CACerts == "" {
		o.CACerts = CACertPath
	}
	o.Created = o.Created.UTC().Truncate(time.Second)
	return nil
}

// Build assembles the image of every platform and their index.
func Build(o Options) (*Result, error) {
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("image options: %w", err)
	}
	certs, err := os.ReadFile(o.CACerts)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", o.CACerts, ErrNoCACerts)
	}
	if err != nil {
		return nil, fmt.Errorf("read CA certificates: %w", err)
	}
	base, err := layer(baseFiles(certs), o.Created)
	if err != nil {
		return nil, fmt.Errorf("base layer: %w", err)
	}
	labels := o.Labels()
	res := &Result{}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range o.Platforms {
		img, err := platformImage(p, base, labels, o.Created)
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", p, err)
		}
		sbom, err := SBOM(p, o.Version, o.Created)
		if err != nil {
			return nil, fmt.Errorf("SBOM for %s: %w", p, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.OS, Architecture: p.Architecture}},
		})
		res.Images = append(res.Images, PlatformImage{Platform: p, Image: img, SBOM: sbom})
	}
	idxAnn, ok := mutate.Annotations(idx, labels).(v1.ImageIndex)
	if !ok {
		return nil, errors.New("annotated index is not an index")
	}
	res.Index = idxAnn
	return res, nil
}

func platformImage(p Platform, base v1.Layer, labels map[string]string, created time.Time) (v1.Image, error) {
	bin, err := os.ReadFile(p.Binary)
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	binLayer, err := layer([]file{
		{name: "usr/", mode: fs.ModeDir | 0o755},
		{name: "usr/local/", mode: fs.ModeDir | 0o755},
		{name: "usr/local/bin/", mode: fs.ModeDir | 0o755},
		{name: strings.TrimPrefix(BinaryPath, "/"), mode: 0o755, data: bin},
	}, created)
	if err != nil {
		return nil, fmt.Errorf("binary layer: %w", err)
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Created:      v1.Time{Time: created},
		OS:           p.OS,
		Architecture: p.Architecture,
		Config: v1.Config{
			User:       fmt.Sprintf("%d:%d", UID, GID),
			Entrypoint: []string{BinaryPath},
			WorkingDir: Home,
			Env: []string{
				"PATH=/usr/local/bin:/usr/bin:/bin",
				"HOME=" + Home,
				"SSL_CERT_FILE=" + CACertPath,
			},
			Labels: labels,
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "imagebuild: CA certificates, /etc/passwd, /etc/group, /tmp", Comment: "hoist"}},
		mutate.Addendum{Layer: binLayer, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "imagebuild: " + BinaryPath + " (" + p.String() + ")", Comment: "hoist"}},
	)
}

// file is one tar entry; a name ending in "/" is a directory.
type file struct {
	name     string
	mode     fs.FileMode
	uid, gid int
	data     []byte
}

func baseFiles(certs []byte) []file {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:%s:/sbin/nologin\n", UID, GID, Home)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", GID)
	return []file{
		{name: "etc/", mode: fs.ModeDir | 0o755},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/ssl/", mode: fs.ModeDir | 0o755},
		{name: "etc/ssl/certs/", mode: fs.ModeDir | 0o755},
		{name: strings.TrimPrefix(CACertPath, "/"), mode: 0o644, data: certs},
		{name: "home/", mode: fs.ModeDir | 0o755},
		{name: strings.TrimPrefix(Home, "/") + "/", mode: fs.ModeDir | 0o700, uid: UID, gid: GID},
		{name: "tmp/", mode: fs.ModeDir | fs.ModeSticky | 0o777},
	}
}

// layer writes files as a gzipped tar layer, sorted by name, every entry
// with time t.
func layer(files []file, t time.Time) (v1.Layer, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name:    f.name,
			Mode:    int64(f.mode.Perm()),
			Uid:     f.uid,
			Gid:     f.gid,
			ModTime: t,
			Format:  tar.FormatPAX,
		}
		if f.mode&fs.ModeSticky != 0 {
			h.Mode |= 0o1000 // c_ISVTX
		}
		if f.mode.IsDir() {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(
		func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer),
		tarball.WithCompressionLevel(gzip.BestCompression),
		tarball.WithCompressedCaching,
	)
}
