package pullrequest_test

import (
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/writeback/pullrequest"
)

// TestCABundle trusts a self-hosted forge's certificate from the Git
// secret's ca.crt: without it the TLS handshake fails, with it the API
// answers (here an error status, which is all this test needs).
func TestCABundle(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"message":"teapot"}`, http.StatusTeapot)
	}))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	req := pullrequest.Request{Head: "hoist/prod", Base: "main", Title: "t"}
	for _, tc := range []struct {
		name     string
		bundle   []byte
		wantCert bool
	}{
		{"without the CA", nil, true},
		{"with the CA", ca, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pullrequest.New(pullrequest.Options{RepoURL: "https://git.example.com/acme/fleet.git", Kind: pullrequest.GitHub, APIURL: srv.URL + "/api/v3/", Token: "tok", CABundle: tc.bundle})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.EnsurePullRequest(t.Context(), req)
			if err == nil {
				t.Fatal("EnsurePullRequest succeeded against a teapot")
			}
			if got := strings.Contains(err.Error(), "certificate"); got != tc.wantCert {
				t.Errorf("error %q: mentions the certificate %v, want %v", err, got, tc.wantCert)
			}
		})
	}
	if _, err := pullrequest.New(pullrequest.Options{RepoURL: "https://git.example.com/acme/fleet.git", Kind: pullrequest.Gitea, Token: "tok", CABundle: []byte("not pem")}); !errors.Is(err, pullrequest.ErrInvalidOptions) {
		t.Errorf("a bundle without certificates: %v, want ErrInvalidOptions", err)
	}
}
