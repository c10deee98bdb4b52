package webhook

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// addSeeds adds the testdata files whose names start with prefix, and a few
// malformed bodies, to a fuzz target of one body argument.
func addSeeds(f *testing.F, prefix string) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", prefix+"*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds for %q: %v", prefix, err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{"", "{", "null", "[]", `{"events": [null]}`, `{"event_data": {"resources": [{}]}}`} {
		f.Add([]byte(s))
	}
}

// checkEvent checks what every parser promises, whatever the input.
func checkEvent(t *testing.T, ev Event, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		return
	}
	switch {
	case ev.Ignored != "":
		if ev.Images != nil || ev.Tags != nil || ev.AllResources {
			t.Fatalf("ignored event %+v names something", ev)
		}
	case ev.AllResources:
		if ev.Images != nil {
			t.Fatalf("event %+v for all resources names images", ev)
		}
	default:
		if len(ev.Images) == 0 {
			t.Fatalf("event %+v neither ignored nor naming an image", ev)
		}
	}
	if !slices.IsSorted(ev.Images) || len(slices.Compact(slices.Clone(ev.Images))) != len(ev.Images) {
		t.Fatalf("images %q not sorted and unique", ev.Images)
	}
	for _, img := range ev.Images {
		if n, err := Normalize(img); err != nil || n != img {
			t.Fatalf("image %q is not normalised (%q, %v)", img, n, err)
		}
	}
}

func FuzzParseDockerHub(f *testing.F) {
	addSeeds(f, "dockerhub")
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := parseDockerHub(body)
		checkEvent(t, ev, err)
		if err == nil && len(ev.Images) > 0 && !strings.HasPrefix(ev.Images[0], DockerHub+"/") {
			t.Fatalf("Docker Hub payload names %q, not on docker.io", ev.Images[0])
		}
	})
}

func FuzzParseHarbor(f *testing.F) {
	addSeeds(f, "harbor")
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := parseHarbor(body)
		checkEvent(t, ev, err)
	})
}

func FuzzParseQuay(f *testing.F) {
	addSeeds(f, "quay")
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := parseQuay(body)
		checkEvent(t, ev, err)
	})
}

func FuzzParseDistribution(f *testing.F) {
	addSeeds(f, "distribution")
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := parseDistribution(body)
		checkEvent(t, ev, err)
	})
}

func FuzzParseGitHub(f *testing.F) {
	for _, name := range []string{"github-package-published.json", "github-registry-package.json", "github-untagged.json", "github-ping.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add("package", "application/json", b)
		f.Add("registry_package", "application/json", b)
		f.Add("package", "application/x-www-form-urlencoded", append([]byte("payload="), b...))
	}
	f.Add("ping", "", []byte(`{}`))
	f.Add("", "", []byte(``))
	f.Add("package", "application/x-www-form-urlencoded", []byte(`payload=%zz`))
	f.Fuzz(func(t *testing.T, event, contentType string, body []byte) {
		header := http.Header{"X-Github-Event": {event}, "Content-Type": {contentType}}
		ev, err := Parse(TypeGitHub, header, body)
		checkEvent(t, ev, err)
	})
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"nginx", "docker.io/library/nginx:1.29", "index.docker.io/acme/web", "ghcr.io/Acme/Web@sha256:00",
		"localhost:5000/a/b", "[::1]:5000/a", "https://quay.io/a/b/", "a__b/c--d", "ghcr.io/", ":", "@", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Normalize(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidImage) {
				t.Fatalf("error %v does not wrap ErrInvalidImage", err)
			}
			if Match(s, s) {
				t.Fatalf("%q matches itself but does not normalise", s)
			}
			return
		}
		if len(n) > maxNameLength {
			t.Fatalf("Normalize(%q) = %q: longer than %d", s, n, maxNameLength)
		}
		if again, err := Normalize(n); err != nil || again != n {
			t.Fatalf("Normalize(%q) = %q, then %q, %v", s, n, again, err)
		}
		if !Match(s, n) || !Selects([]string{s}, n) {
			t.Fatalf("%q does not match its normal form %q", s, n)
		}
	})
}

func FuzzValidSignature(f *testing.F) {
	f.Add("sha256=00", "token", []byte("body"))
	f.Add("sha1=zz", "t", []byte{})
	f.Add("=", "", []byte("x"))
	f.Fuzz(func(t *testing.T, header, token string, body []byte) {
		validSignature(TypeGenericHMAC, header, token, body)
		validSignature(TypeGitHub, header, token, body)
		validAuthorization(header, sha256.Sum256([]byte(token)))
		good := "sha256=" + sign(sha256.New, token, body)
		if !validSignature(TypeGitHub, good, token, body) || !validSignature(TypeGenericHMAC, good, token, body) {
			t.Fatalf("the right signature of %q is refused", body)
		}
		if token != "" && !validAuthorization("Bearer "+token, sha256.Sum256([]byte(token))) && strings.TrimSpace(token) == token {
			t.Fatalf("the right Authorization for %q is refused", token)
		}
	})
}

func FuzzParseGCR(f *testing.F) {
	addSeeds(f, "gcr")
	f.Add([]byte(`{"message": {"data": "!"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := parseGCR(body)
		checkEvent(t, ev, err)
	})
}
