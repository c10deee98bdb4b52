// Command build-image assembles hoist's multi-platform container image from
// binaries built beforehand and pushes it, with an SBOM per platform as an
// OCI referrer. make image runs it; see README.md.
//
//	build-image --image HOST/REPO:TAG --version V --revision SHA --source-date-epoch SECONDS \
//	  --binary linux/amd64=dist/image/hoist-linux-amd64 --binary linux/arm64=dist/image/hoist-linux-arm64
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hoist-dev/hoist/internal/imagebuild"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "build-image:", err)
		os.Exit(1)
	}
}

type binaries []imagebuild.Platform

func (b *binaries) String() string { return fmt.Sprint(*b) }

func (b *binaries) Set(s string) error {
	plat, path, ok := strings.Cut(s, "=")
	goos, arch, ok2 := strings.Cut(plat, "/")
	if !ok || !ok2 || path == "" {
		return fmt.Errorf("%q: want OS/ARCH=PATH", s)
	}
	*b = append(*b, imagebuild.Platform{OS: goos, Architecture: arch, Binary: path})
	return nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("build-image", flag.ContinueOnError)
	var (
		bins     binaries
		image    = fs.String("image", "", "HOST/REPO:TAG to push to (required)")
		epoch    = fs.String("source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "file and config times, in seconds since 1970 (the commit's time)")
		insecure = fs.Bool("insecure", false, "allow plain HTTP to the registry")
		o        imagebuild.Options
	)
	fs.Var(&bins, "binary", "OS/ARCH=PATH of a platform's static binary (repeatable)")
	fs.StringVar(&o.Version, "version", "", "org.opencontainers.image.version (required)")
	fs.StringVar(&o.Revision, "revision", "", "org.opencontainers.image.revision: the Git commit")
	fs.StringVar(&o.Source, "source", "https://github.com/hoist-dev/hoist", "org.opencontainers.image.source")
	fs.StringVar(&o.CACerts, "ca-certs", imagebuild.CACertPath, "CA certificates to copy into the image")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *image == "" {
		return errors.New("--image is required")
	}
	var nameOpts []name.Option
	if *insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	tag, err := name.NewTag(*image, nameOpts...)
	if err != nil {
		return fmt.Errorf("--image %q: %w", *image, err)
	}
	secs, err := strconv.ParseInt(*epoch, 10, 64)
	if err != nil {
		return fmt.Errorf("--source-date-epoch %q: %w", *epoch, err)
	}
	o.Created = time.Unix(secs, 0)
	o.Platforms = bins
	start := time.Now()
	res, err := imagebuild.Build(o)
	if err != nil {
		return err
	}
	pushed, err := imagebuild.Push(ctx, tag, res, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s@%s (%s)\n", tag, pushed.Index, time.Since(start).Round(time.Millisecond))
	for i, pi := range res.Images {
		size, err := imageSize(pi)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "  %s: %s, %d bytes compressed; SBOM %s\n", pi.Platform, pushed.Images[i], size, pushed.SBOMs[i])
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}

// imageSize is the size of the image's compressed layers.
func imageSize(pi imagebuild.PlatformImage) (int64, error) {
	m, err := pi.Image.Manifest()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}
