package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"testing"
)

func BenchmarkParse(b *testing.B) {
	cases := []struct {
		name, typ, event, file string
	}{
		{"dockerhub", TypeDockerHub, "", "dockerhub.json"},
		{"harbor", TypeHarbor, "", "harbor-push-artifact.json"},
		{"quay", TypeQuay, "", "quay-repo-push.json"},
		{"github", TypeGitHub, "package", "github-package-published.json"},
		{"distribution", TypeDistribution, "", "distribution-events.json"},
	}
	for _, c := range cases {
		body := readTestdata(b, c.file)
		header := http.Header{"X-Github-Event": {c.event}}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := Parse(c.typ, header, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkNormalize(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := normalize("Index.Docker.io/Acme/Web:1.4.2"); !ok {
			b.Fatal("not normalised")
		}
	}
}

// BenchmarkHandler measures ServeHTTP of a signed GitHub delivery among 500
// receivers, without the network.
func BenchmarkHandler(b *testing.B) {
	receivers := make([]Receiver, 500)
	for i := range receivers {
		receivers[i] = Receiver{Name: "r" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Namespace: "apps",
			Type: TypeGitHub, Token: "token-0123456789"}
	}
	rc := receivers[250]
	h, err := NewHandler(receivers, func(context.Context, Receiver, Request) error { return nil })
	if err != nil {
		b.Fatal(err)
	}
	body := readTestdata(b, "github-package-published.json")
	sig := "sha256=" + sign(sha256.New, rc.Token, body)
	path := rc.Path()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "package")
		req.Header.Set("X-Hub-Signature-256", sig)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusAccepted {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

func BenchmarkCoalescerFold(b *testing.B) {
	release := make(chan struct{})
	c := NewCoalescer(func(context.Context, string) { <-release })
	ctx := context.Background()
	c.Trigger(ctx, "apps/web")
	b.ReportAllocs()
	for b.Loop() {
		c.Trigger(ctx, "apps/web")
	}
	close(release)
	if err := c.Wait(ctx); err != nil {
		b.Fatal(err)
	}
}
