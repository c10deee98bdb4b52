package imagebuild_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/imagebuild"
)

func TestBuildWithoutCACertificates(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "ca-certificates.crt")
	_, err := imagebuild.Build(imagebuild.Options{
		Platforms: []imagebuild.Platform{{OS: "linux", Architecture: "amd64", Binary: "hoist"}},
		Created:   time.Unix(1, 0), Version: "v1.0.0", CACerts: missing,
	})
	if !errors.Is(err, imagebuild.ErrNoCACerts) || !strings.Contains(err.Error(), "apt-get install ca-certificates") || !strings.Contains(err.Error(), missing) {
		t.Errorf("Build without CA certificates: %v, want an error naming %s and apt-get install ca-certificates", err, missing)
	}
}
