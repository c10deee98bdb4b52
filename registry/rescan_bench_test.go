package registry_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hoist-dev/hoist/registry"
)

// BenchmarkRescan lists the tags of 2,000 repositories of 1,000 tags over
// and over, as a service does every interval: with no cache, with the cache
// when nothing changed (the list is confirmed, not rewritten), and with the
// cache when every list has a new tag (stored again each time, what every
// rescan cost before unchanged lists were confirmed only).
//
// The tag lists are served from memory by an httptest handler: the
// benchmark measures the client and its cache, not a registry.
func BenchmarkRescan(b *testing.B) {
	var sb strings.Builder
	for i := range 1000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "%q", fmt.Sprintf("1.%d.%d", i/25, i%25))
	}
	base := sb.String()
	var changing atomic.Bool
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		if r.URL.Path == "/v2/" {
			_, _ = w.Write([]byte("{}"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		extra := ""
		if changing.Load() {
			extra = fmt.Sprintf(`,"2.0.%d"`, served.Add(1))
		}
		_, _ = fmt.Fprintf(w, `{"name":"x","tags":[%s%s]}`, base, extra)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	const repos = 2000
	for _, tc := range []struct {
		name   string
		cache  bool
		change bool
	}{
		{"no-cache", false, false},
		{"cache/unchanged", true, false},
		{"cache/changed", true, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var opts []registry.Option
			var cache *registry.Cache
			if tc.cache {
				var err error
				cache, err = registry.OpenCache(filepath.Join(b.TempDir(), "registry.db"), nil)
				if err != nil {
					b.Fatal(err)
				}
				defer func() { _ = cache.Close() }()
				opts = append(opts, registry.WithCache(cache))
			}
			c := newClient(b, registry.SystemClock{}, opts...)
			list := func(i int) {
				if _, err := c.ListTags(b.Context(), registry.Repo{Image: fmt.Sprintf("%s/app%d", host, i%repos), Insecure: true}); err != nil {
					b.Fatal(err)
				}
			}
			changing.Store(false)
			for r := range repos {
				list(r)
			}
			changing.Store(tc.change)
			var writes int64
			if cache != nil {
				writes = registry.CacheWrites(cache)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				list(i)
				i++
			}
			if cache != nil {
				b.ReportMetric(float64(registry.CacheWrites(cache)-writes)/float64(b.N), "writes/op")
			}
		})
	}
}
