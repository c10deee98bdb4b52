package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

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

// TestHoldTime: a time that is all a status write would change is held
// back until the one in the status is refresh old; anything else written
// with it takes the new time; a refresh of zero never holds it.
func TestHoldTime(t *testing.T) {
	base := time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)
	at := func(d time.Duration) metav1.Time { return metav1.NewTime(base.Add(d)) }
	tests := map[string]struct {
		prev, now metav1.Time
		refresh   time.Duration
		unchanged bool // the status, with the time held, is as it was
		want      metav1.Time
	}{
		"nothing else changed: held":                 {prev: at(0), now: at(30 * time.Second), refresh: time.Hour, unchanged: true, want: at(0)},
		"nothing else changed, refresh due: written": {prev: at(0), now: at(time.Hour), refresh: time.Hour, unchanged: true, want: at(time.Hour)},
		"something else changed: written":            {prev: at(0), now: at(30 * time.Second), refresh: time.Hour, unchanged: false, want: at(30 * time.Second)},
		"refresh zero, as Flux: written":             {prev: at(0), now: at(30 * time.Second), refresh: 0, unchanged: true, want: at(30 * time.Second)},
		"no time before: written":                    {now: at(30 * time.Second), refresh: time.Hour, unchanged: true, want: at(30 * time.Second)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := tc.now
			var asked metav1.Time
			holdTime(&got, tc.prev, tc.refresh, func() bool {
				asked = got
				return tc.unchanged
			})
			if !got.Equal(&tc.want) {
				t.Errorf("time = %v, want %v", got, tc.want)
			}
			if !asked.IsZero() && !asked.Equal(&tc.prev) {
				t.Errorf("unchanged was asked with the time %v, want the held %v", asked, tc.prev)
			}
		})
	}
}
