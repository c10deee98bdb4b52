package service_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/service"
)

// TestProfiling serves /debug/pprof/ on the operational handlers only when
// asked, and never on the handler that faces registries.
func TestProfiling(t *testing.T) {
	for _, tc := range []struct {
		name      string
		profiling bool
		handler   func(*service.Service) http.Handler
		want      int
	}{
		{"ops, profiling", true, (*service.Service).OpsHandler, http.StatusOK},
		{"one listener, profiling", true, (*service.Service).Handler, http.StatusOK},
		{"hooks, profiling", true, (*service.Service).HookHandler, http.StatusNotFound},
		{"ops, default", false, (*service.Service).OpsHandler, http.StatusNotFound},
		{"one listener, default", false, (*service.Service).Handler, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, err := service.NewService(service.ServiceOptions{
				Runner:      &automation.Runner{Scanner: &automation.Scanner{}, StateDir: t.TempDir()},
				ConfigPaths: []string{filepath.Join("testdata", "receivers", "config.yaml")},
				Registry:    prometheus.NewRegistry(),
				Profiling:   tc.profiling,
			})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(tc.handler(svc))
			defer srv.Close()
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1"} {
				resp, err := http.Get(srv.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Errorf("GET %s: %s, want %d", path, resp.Status, tc.want)
				}
			}
		})
	}
}
