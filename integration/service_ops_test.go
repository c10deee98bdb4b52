package integration

import (
	"net/http"
	"strings"
	"testing"
)

// TestServiceOpsListen serves the webhooks and the operational endpoints on
// two listeners: --listen, which registries reach, answers the webhooks and
// the health checks only; --ops-listen answers /metrics and /status.
func TestServiceOpsListen(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end service test")
	}
	f := newFleet(t, fleetOptions{receiver: true})
	ops := freeAddr(t)
	svc := f.start("--ops-listen", ops)
	get := func(addr, path string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		addr, path string
		want       int
	}{
		{f.addr, "/metrics", http.StatusNotFound},
		{f.addr, "/status", http.StatusNotFound},
		{f.addr, "/readyz", http.StatusOK},
		{ops, "/metrics", http.StatusOK},
		{ops, "/status", http.StatusOK},
		{ops, "/healthz", http.StatusOK},
		{ops, strings.TrimPrefix(f.hookURL(), "http://"+f.addr), http.StatusNotFound},
	} {
		if got := get(tc.addr, tc.path); got != tc.want {
			t.Errorf("GET %s%s: %d, want %d", tc.addr, tc.path, got, tc.want)
		}
	}
	// The webhook is served on --listen: a request without the token is
	// refused there, not unknown.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.hookURL(), strings.NewReader(`{"events": []}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/vnd.docker.distribution.events.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("webhook without its token on --listen: %s, want 401", resp.Status)
	}
	if r := hoist(t, nil, "status", "--server", ops); r.code != 0 || !strings.Contains(r.stdout, "apps/podinfo") {
		t.Errorf("hoist status --server OPS: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	svc.stop()
}
