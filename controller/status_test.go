package controller

import "testing"

func TestCanonicalImageName(t *testing.T) {
	for image, want := range map[string]string{
		"podinfo":                        "index.docker.io/library/podinfo",
		"stefanprodan/podinfo":           "index.docker.io/stefanprodan/podinfo",
		"docker.io/stefanprodan/podinfo": "index.docker.io/stefanprodan/podinfo",
		"ghcr.io/stefanprodan/podinfo":   "ghcr.io/stefanprodan/podinfo",
		"127.0.0.1:5000/apps/podinfo":    "127.0.0.1:5000/apps/podinfo",
		"Not A Reference":                "",
	} {
		t.Run(image, func(t *testing.T) {
			if got := canonicalImageName(image); got != want {
				t.Errorf("canonicalImageName(%q) = %q, want %q", image, got, want)
			}
		})
	}
}
