// Package cloudhost tells which cloud a registry host belongs to: Amazon ECR,
// Google Artifact Registry and Container Registry, Azure Container Registry.
// It is pure (no I/O), so that configuration validation can use it without
// the clouds' SDKs.
package cloudhost

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// The providers of ImageRepository's spec.provider.
const (
	Generic = "generic"
	AWS     = "aws"
	GCP     = "gcp"
	Azure   = "azure"
)

// ErrHostMismatch is returned (wrapped) by Check when a registry host does
// not belong to the provider named for it.
var ErrHostMismatch = errors.New("registry host does not belong to the provider")

// ecrHost matches ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com[.cn] and the
// dual-stack ACCOUNT.dkr-ecr[-fips].REGION.on.aws, as ECR names its
// registries.
var ecrHost = regexp.MustCompile(`^([0-9]{12})\.(?:dkr\.ecr|dkr-ecr)(?:-fips)?\.([a-z0-9-]+)\.(?:amazonaws\.com(?:\.cn)?|on\.aws|sc2s\.sgov\.gov|c2s\.ic\.gov)$`)

// ECR is an Amazon ECR registry: its account and region.
type ECR struct {
	Account, Region string
}

// ParseECR reads the account and region of an ECR registry host (a port is
// ignored).
func ParseECR(host string) (ECR, bool) {
	m := ecrHost.FindStringSubmatch(hostname(host))
	if m == nil {
		return ECR{}, false
	}
	return ECR{Account: m[1], Region: m[2]}, true
}

// IsGCP reports whether host is Google's: gcr.io and its regional mirrors
// (eu.gcr.io, ...), and Artifact Registry's LOCATION-docker.pkg.dev.
func IsGCP(host string) bool {
	h := hostname(host)
	return h == "gcr.io" || strings.HasSuffix(h, ".gcr.io") ||
		(strings.HasSuffix(h, "-docker.pkg.dev") && len(h) > len("-docker.pkg.dev"))
}

// IsAzure reports whether host is an Azure Container Registry:
// NAME.azurecr.io, and the sovereign clouds' .azurecr.cn and .azurecr.us.
func IsAzure(host string) bool {
	h := hostname(host)
	for _, s := range []string{".azurecr.io", ".azurecr.cn", ".azurecr.us", ".azurecr.de"} {
		if name, ok := strings.CutSuffix(h, s); ok && name != "" && !strings.Contains(name, ".") {
			return true
		}
	}
	return false
}

// Check returns nil when host belongs to provider (any host belongs to
// generic and to ""), else an error wrapping ErrHostMismatch that names
// both and says which hosts the provider serves.
func Check(provider, host string) error {
	var ok bool
	var want string
	switch provider {
	case "", Generic:
		return nil
	case AWS:
		_, ok = ParseECR(host)
		want = "ACCOUNT.dkr.ecr.REGION.amazonaws.com"
	case GCP:
		ok = IsGCP(host)
		want = "LOCATION-docker.pkg.dev or [REGION.]gcr.io"
	case Azure:
		ok = IsAzure(host)
		want = "NAME.azurecr.io"
	default:
		return fmt.Errorf("unknown provider %q", provider)
	}
	if !ok {
		return fmt.Errorf("%w: %q is not a %s registry (want %s)", ErrHostMismatch, host, provider, want)
	}
	return nil
}

// hostname drops a port and lower-cases.
func hostname(host string) string {
	host = strings.ToLower(host)
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	return host
}
