package webhook

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNormalize(t *testing.T) {
	tests := map[string]struct {
		in   string
		want string // "" when ErrInvalidImage is wanted
	}{
		// Docker Hub: aliases, library/, case.
		"official short":            {"nginx", "docker.io/library/nginx"},
		"official with tag":         {"nginx:1.29", "docker.io/library/nginx"},
		"official with digest":      {"nginx@sha256:4a3b9e1f0c2d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7", "docker.io/library/nginx"},
		"official tag and digest":   {"nginx:1.29@sha256:4a3b", "docker.io/library/nginx"},
		"library explicit":          {"library/nginx", "docker.io/library/nginx"},
		"docker.io short":           {"docker.io/nginx", "docker.io/library/nginx"},
		"docker.io library":         {"docker.io/library/nginx", "docker.io/library/nginx"},
		"index.docker.io":           {"index.docker.io/library/nginx", "docker.io/library/nginx"},
		"index.docker.io short":     {"index.docker.io/nginx", "docker.io/library/nginx"},
		"registry-1.docker.io":      {"registry-1.docker.io/acme/web", "docker.io/acme/web"},
		"registry.hub.docker.com":   {"registry.hub.docker.com/acme/web", "docker.io/acme/web"},
		"user repo":                 {"acme/web", "docker.io/acme/web"},
		"user repo upper":           {"Acme/Web", "docker.io/acme/web"},
		"docker.io upper host":      {"DOCKER.IO/acme/web", "docker.io/acme/web"},
		"docker.io port 443":        {"docker.io:443/acme/web", "docker.io/acme/web"},
		"nested path on hub":        {"acme/team/web", "docker.io/acme/team/web"},
		"scheme":                    {"https://registry.example.com/acme/web", "registry.example.com/acme/web"},
		"trailing slash":            {"registry.example.com/acme/web/", "registry.example.com/acme/web"},
		"spaces":                    {"  ghcr.io/acme/web  ", "ghcr.io/acme/web"},
		"ghcr owner case":           {"ghcr.io/Acme-Corp/Web", "ghcr.io/acme-corp/web"},
		"ghcr lower":                {"ghcr.io/acme-corp/web", "ghcr.io/acme-corp/web"},
		"host upper":                {"GHCR.IO/acme/web:1.0", "ghcr.io/acme/web"},
		"port kept":                 {"localhost:5000/acme/web", "localhost:5000/acme/web"},
		"port kept with tag":        {"registry.example.com:5000/acme/web:1.2.3", "registry.example.com:5000/acme/web"},
		"port 443 dropped":          {"registry.example.com:443/acme/web", "registry.example.com/acme/web"},
		"port 80 kept":              {"registry.example.com:80/acme/web", "registry.example.com:80/acme/web"},
		"localhost":                 {"localhost/web", "localhost/web"},
		"ip and port":               {"127.0.0.1:5000/acme/web", "127.0.0.1:5000/acme/web"},
		"ipv6":                      {"[::1]:5000/acme/web", "[::1]:5000/acme/web"},
		"ipv6 no port":              {"[fe80::1]/web", "[fe80::1]/web"},
		"separators":                {"quay.io/a_b/c__d/e--f/g.h", "quay.io/a_b/c__d/e--f/g.h"},
		"harbor resource url":       {"harbor.example.com/platform/web:1.4.2", "harbor.example.com/platform/web"},
		"empty":                     {"", ""},
		"only host":                 {"ghcr.io/", ""},
		"empty component":           {"ghcr.io/acme//web", ""},
		"bad character":             {"ghcr.io/acme/we$b", ""},
		"space inside":              {"ghcr.io/acme/w eb", ""},
		"leading separator":         {"ghcr.io/-acme/web", ""},
		"triple underscore":         {"ghcr.io/a___b", ""},
		"bad port":                  {"ghcr.io:abc/web", ""},
		"empty port":                {"ghcr.io:/web", ""},
		"long port":                 {"ghcr.io:123456/web", ""},
		"bad label":                 {"-ghcr.io/web", ""},
		"empty label":               {"ghcr..io/web", ""},
		"unknown scheme":            {"ftp://ghcr.io/acme/web", ""},
		"bad ipv6":                  {"[zz::1]/web", ""},
		"ipv6 garbage after":        {"[::1]x/web", ""},
		"too long":                  {"ghcr.io/" + strings.Repeat("a", 250), ""},
		"just a tag separator":      {":", ""},
		"just a digest separator":   {"@", ""},
		"host without path and tag": {"localhost:5000", "docker.io/library/localhost"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Normalize(tc.in)
			if tc.want == "" {
				if !errors.Is(err, ErrInvalidImage) {
					t.Fatalf("Normalize(%q) = %q, %v; want ErrInvalidImage", tc.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Normalize(%q) (-want +got):\n%s", tc.in, diff)
			}
			// Idempotent: a normalised name normalises to itself.
			if again, err := Normalize(got); err != nil || again != got {
				t.Errorf("Normalize(%q) = %q, %v; want it unchanged", got, again, err)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	tests := map[string]struct {
		spec, payload string
		want          bool
	}{
		"same":                   {"ghcr.io/acme/web", "ghcr.io/acme/web", true},
		"owner case":             {"ghcr.io/acme/web", "ghcr.io/Acme/web", true},
		"hub short vs long":      {"nginx", "docker.io/library/nginx", true},
		"hub alias":              {"index.docker.io/acme/web", "docker.io/acme/web", true},
		"tag ignored":            {"acme/web", "docker.io/acme/web:1.4.2", true},
		"other repo":             {"ghcr.io/acme/web", "ghcr.io/acme/api", false},
		"other host":             {"ghcr.io/acme/web", "quay.io/acme/web", false},
		"hub vs other host":      {"acme/web", "quay.io/acme/web", false},
		"port matters":           {"localhost:5000/web", "localhost:5001/web", false},
		"no port vs port":        {"localhost/web", "localhost:5000/web", false},
		"default port":           {"registry.example.com/web", "registry.example.com:443/web", true},
		"prefix is not a match":  {"ghcr.io/acme/web", "ghcr.io/acme/web/sub", false},
		"invalid spec":           {"", "", false},
		"invalid payload":        {"ghcr.io/acme/web", "ghcr.io/acme/we b", false},
		"library not on other":   {"registry.example.com/nginx", "registry.example.com/library/nginx", false},
		"library only on hub":    {"library/nginx", "nginx", true},
		"nested hub not library": {"acme/team/web", "docker.io/acme/team/web", true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Match(tc.spec, tc.payload); got != tc.want {
				t.Errorf("Match(%q, %q) = %t, want %t", tc.spec, tc.payload, got, tc.want)
			}
		})
	}
}

func TestSelects(t *testing.T) {
	tests := map[string]struct {
		images []string
		spec   string
		want   bool
	}{
		"nil selects all":        {nil, "ghcr.io/acme/web", true},
		"empty selects none":     {[]string{}, "ghcr.io/acme/web", false},
		"one of several":         {[]string{"quay.io/acme/web", "ghcr.io/acme/web"}, "ghcr.io/Acme/web", true},
		"none":                   {[]string{"quay.io/acme/web"}, "ghcr.io/acme/web", false},
		"invalid spec":           {[]string{"ghcr.io/acme/web"}, "not an image", false},
		"nil with invalid spec":  {nil, "not an image", true},
		"skips invalid in image": {[]string{"??", "docker.io/library/nginx"}, "nginx", true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Selects(tc.images, tc.spec); got != tc.want {
				t.Errorf("Selects(%q, %q) = %t, want %t", tc.images, tc.spec, got, tc.want)
			}
		})
	}
}
