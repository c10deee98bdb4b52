package registry_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/hoist-dev/hoist/registry"
)

// BenchmarkListTagsUnchanged measures the client's cost of a rescan at
// rest: a one-page list of 1,000 tags that comes back byte for byte, asked
// by Repo.KnownSum, so nothing is decoded and what remains is the request
// path (connection lookup, credentials, the transport stack) and the read
// of the body. It rescans 1,000 repositories in turn, as a service does at
// its interval:
//
//   - anonymous-copy: the Client's keychain, which has no credentials,
//     and each page copied out of the buffer it was read into before it is
//     summed (as before);
//   - anonymous-sha256: the same, the page hashed in its buffer, which is
//     reused, with SHA-256 (as before);
//   - anonymous: the same, hashed with hash/maphash;
//   - secret: one parsed secret (a *DockerConfig) for every scan;
//   - secret-reread: the secret parsed again before each scan, as a
//     Scanner reads a secretRef (a new *DockerConfig each time).
//
// cpu-µs/op is the CPU time of the process (client and handler) per
// rescan, steadier than ns/op on a shared machine.
//
// The tag lists are served from memory by an httptest handler: the
// benchmark measures the client, not a registry (the handler's own cost is
// in the figures, the same for every case).
func BenchmarkListTagsUnchanged(b *testing.B) {
	body := registry.TagListPage(1000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		if r.URL.Path == "/v2/" {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	secret := []byte(fmt.Sprintf(`{"auths":{%q:{"username":"bench","password":"secret"}}}`, host))
	const repos = 1000
	for _, tc := range []struct {
		name     string
		keychain func() authn.Keychain
		copy     bool
		sha256   bool
	}{
		{"anonymous-copy", func() authn.Keychain { return nil }, true, true},
		{"anonymous-sha256", func() authn.Keychain { return nil }, false, true},
		{"anonymous", func() authn.Keychain { return nil }, false, false},
		{"secret", func() func() authn.Keychain {
			kc, err := registry.ParseDockerConfig(secret)
			if err != nil {
				b.Fatal(err)
			}
			return func() authn.Keychain { return kc }
		}(), false, false},
		{"secret-reread", func() authn.Keychain {
			kc, err := registry.ParseDockerConfig(secret)
			if err != nil {
				b.Fatal(err)
			}
			return kc
		}, false, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var requests int
			c := newClient(b, registry.SystemClock{}, registry.WithRequestObserver(func(registry.RequestInfo) { requests++ }))
			if tc.copy {
				registry.CopyPages(c)
			}
			if tc.sha256 {
				registry.SHA256Pages(c)
			}
			sums := make([][32]byte, repos)
			names := make([]string, repos)
			for i := range repos {
				names[i] = fmt.Sprintf("%s/team/app%04d", host, i)
				l, err := c.ListTags(b.Context(), registry.Repo{Image: names[i], Insecure: true, Keychain: tc.keychain()})
				if err != nil {
					b.Fatal(err)
				}
				sums[i] = l.Sum
			}
			requests = 0
			cpu := cpuTime()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := i % repos
				l, err := c.ListTags(b.Context(), registry.Repo{Image: names[r], Insecure: true, Keychain: tc.keychain(), KnownSum: sums[r]})
				if err != nil || !l.Unchanged {
					b.Fatalf("rescan of %s: unchanged %v, error %v", names[r], l.Unchanged, err)
				}
				i++
			}
			b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
			b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
		})
	}
}
