package testenv

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRegistryTokenAuthIsEnforced(t *testing.T) {
	reg := NewRegistry(t, RegistryOptions{Auth: AuthToken})
	get := func(token string) int {
		req, err := http.NewRequestWithContext(t.Context(), "GET", reg.URL+"/v2/", nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(""); got != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", got)
	}
	good, err := reg.Token.sign(map[string]any{
		"iss": tokenIssuer, "aud": tokenService, "sub": "x",
		"exp": time.Now().Add(time.Minute).Unix(), "nbf": time.Now().Add(-time.Minute).Unix(), "iat": time.Now().Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := get(good); got != http.StatusOK {
		t.Errorf("valid token: %d, want 200", got)
	}
	other := NewRegistry(t, RegistryOptions{Auth: AuthToken})
	forged, err := other.Token.sign(map[string]any{
		"iss": tokenIssuer, "aud": tokenService, "sub": "x",
		"exp": time.Now().Add(time.Minute).Unix(), "nbf": time.Now().Add(-time.Minute).Unix(), "iat": time.Now().Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := get(forged); got != http.StatusUnauthorized {
		t.Errorf("token signed by another key: %d, want 401", got)
	}
}

func TestFaultsCutBody(t *testing.T) {
	reg := NewRegistry(t, RegistryOptions{})
	reg.Faults.Add(Fault{Path: PingPath, Times: 1, Do: CutBody()})
	resp, err := http.Get(reg.URL + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, err = io.ReadAll(resp.Body)
	if err == nil || !strings.Contains(err.Error(), "unexpected EOF") {
		t.Errorf("reading a cut body: %v, want unexpected EOF", err)
	}
	if got := reg.Faults.Reached("GET", PingPath); got != 1 {
		t.Errorf("reached %d, want 1", got)
	}
}
