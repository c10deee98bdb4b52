package registry_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// TestDockerConfigCredentials runs against one registry with token auth and
// takes credentials from Docker's config.json in the ways docker does. It
// sets PATH, so it cannot run in parallel.
func TestDockerConfigCredentials(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{Auth: testenv.AuthToken})
	reg.PushImage(t, "app", "v1", testenv.ImageOptions{})
	right := testenv.DockerAuth{Username: reg.Username, Password: reg.Password}
	wrong := testenv.DockerAuth{Username: reg.Username, Password: "wrong"}
	helper := testenv.WriteCredentialHelper(t, "hoisttest", map[string]testenv.DockerAuth{reg.Host: right})
	empty := testenv.WriteCredentialHelper(t, "hoistempty", nil)
	t.Setenv("PATH", helper.Dir+string(os.PathListSeparator)+empty.Dir+string(os.PathListSeparator)+os.Getenv("PATH"))

	tests := map[string]struct {
		config  *testenv.DockerConfig // nil: no config.json
		secret  *testenv.DockerAuth   // the Repo's own credentials
		wantErr error
		// helper runs for three calls (cached answers)
		wantHelperRuns int
	}{
		"auths":                  {config: &testenv.DockerConfig{Auths: map[string]testenv.DockerAuth{reg.Host: right}}},
		"auths with scheme key":  {config: &testenv.DockerConfig{Auths: map[string]testenv.DockerAuth{"http://" + reg.Host + "/v2/": right}}},
		"auths of a repository":  {config: &testenv.DockerConfig{Auths: map[string]testenv.DockerAuth{reg.Host + "/app": right, reg.Host: wrong}}},
		"credHelpers":            {config: &testenv.DockerConfig{CredHelpers: map[string]string{reg.Host: "hoisttest"}}, wantHelperRuns: 1},
		"credsStore":             {config: &testenv.DockerConfig{CredsStore: "hoisttest"}, wantHelperRuns: 1},
		"credHelpers over auths": {config: &testenv.DockerConfig{CredHelpers: map[string]string{reg.Host: "hoisttest"}, Auths: map[string]testenv.DockerAuth{reg.Host: wrong}}, wantHelperRuns: 1},
		"helper without, auths":  {config: &testenv.DockerConfig{CredsStore: "hoistempty", Auths: map[string]testenv.DockerAuth{reg.Host: right}}},
		"no config: anonymous":   {wantErr: registry.ErrUnauthorized},
		"other registry only":    {config: &testenv.DockerConfig{Auths: map[string]testenv.DockerAuth{"ghcr.io": right}}, wantErr: registry.ErrUnauthorized},
		"secret first":           {config: &testenv.DockerConfig{Auths: map[string]testenv.DockerAuth{reg.Host: wrong}}, secret: &right},
		"secret wrong is not retried with config": {
			config: &testenv.DockerConfig{Auths: map[string]testenv.DockerAuth{reg.Host: right}}, secret: &wrong, wantErr: registry.ErrUnauthorized,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.config != nil {
				testenv.WriteDockerConfig(t, dir, *tc.config)
			}
			runs := helper.Runs() + empty.Runs()
			c, err := registry.New(registry.WithDockerConfigDir(dir), registry.WithClock(newFakeClock()), registry.WithMaxRetries(0))
			if err != nil {
				t.Fatal(err)
			}
			repo := registry.Repo{Image: reg.Ref("app", "")}
			if tc.secret != nil {
				repo.Keychain = secretFor(t, reg.Host, tc.secret.Username, tc.secret.Password)
			}
			for range 3 {
				_, err = c.ListTags(t.Context(), repo)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ListTags error = %v, want %v", err, tc.wantErr)
				}
			}
			if tc.wantHelperRuns > 0 {
				if got := helper.Runs() + empty.Runs() - runs; got != tc.wantHelperRuns {
					t.Errorf("helper ran %d times, want %d", got, tc.wantHelperRuns)
				}
			}
		})
	}
}

func TestDockerConfigErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	secret := `{"auths":{"r.example":{"auth":"c2VjcmV0LXVzZXI6c2VjcmV0LXB3"}}, oops}`
	writeFile(t, filepath.Join(dir, "config.json"), []byte(secret))
	c, err := registry.New(registry.WithDockerConfigDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListTags(t.Context(), registry.Repo{Image: "r.example/app"})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "config.json")) || !errors.Is(err, registry.ErrDockerConfig) {
		t.Fatalf("error = %v, want ErrDockerConfig naming the file", err)
	}
	if strings.Contains(err.Error(), "c2VjcmV0") || strings.Contains(err.Error(), "secret-pw") {
		t.Errorf("error quotes the credentials: %v", err)
	}
}

func TestReadDockerConfigSecret(t *testing.T) {
	dir := t.TempDir()
	testenv.WriteDockerConfigSecret(t, dir, "regcred", testenv.DockerConfig{
		Auths: map[string]testenv.DockerAuth{"https://index.docker.io/v1/": {Username: "u", Password: "p"}},
	})
	tests := map[string]struct {
		secret  string
		image   string
		want    authn.AuthConfig
		wantErr string
	}{
		"docker hub":     {secret: "regcred", image: "nginx", want: authn.AuthConfig{Username: "u", Password: "p"}},
		"other registry": {secret: "regcred", image: "ghcr.io/a/b", want: authn.AuthConfig{}},
		"missing":        {secret: "nope", wantErr: filepath.Join(dir, "nope", ".dockerconfigjson")},
		"path escape":    {secret: "../etc", wantErr: "not a secret name"},
	}
	for desc, tc := range tests {
		t.Run(desc, func(t *testing.T) {
			kc, err := registry.ReadDockerConfigSecret(dir, tc.secret)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ref, err := name.NewRepository(tc.image)
			if err != nil {
				t.Fatal(err)
			}
			a, err := kc.Resolve(ref)
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.Authorization()
			if err != nil {
				t.Fatal(err)
			}
			if *got != tc.want {
				t.Errorf("credentials for %s: user %q, want %q", tc.image, got.Username, tc.want.Username)
			}
			if s := fmt.Sprintf("%v %+v %#v %s", kc, kc, kc, kc); strings.Contains(s, `"p"`) || strings.Contains(s, "Password") {
				t.Errorf("printing the config shows secrets: %s", s)
			}
		})
	}
}

// TestCredentialsNeverLeak fails an authenticated scan in several ways with
// debug logging on and checks that no log line, error or observed request
// holds the password or its encodings.
func TestCredentialsNeverLeak(t *testing.T) {
	const password = "pa55-W0rd-that-must-not-leak"
	for _, mode := range []testenv.RegistryAuth{testenv.AuthBasic, testenv.AuthToken} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			reg := testenv.NewRegistry(t, testenv.RegistryOptions{Auth: mode, Password: password})
			reg.PushImage(t, "app", "v1", testenv.ImageOptions{})
			var logs bytes.Buffer
			var observed []registry.RequestInfo
			c := newClient(t, newFakeClock(),
				registry.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
				registry.WithRequestObserver(func(i registry.RequestInfo) { observed = append(observed, i) }),
				registry.WithMaxRetries(1))
			good := registry.Repo{Image: reg.Ref("app", ""), Keychain: secretFor(t, reg.Host, reg.Username, password)}
			bad := registry.Repo{Image: reg.Ref("app", ""), Keychain: secretFor(t, reg.Host, reg.Username, password+"x")}
			var errs []string
			if _, err := c.ListTags(t.Context(), bad); err != nil {
				errs = append(errs, err.Error())
			}
			reg.Faults.Add(testenv.Fault{Path: testenv.ManifestsPath, Do: testenv.Status(500)})
			if _, err := c.Facts(t.Context(), good, "v1", registry.Need{Created: true}); err != nil {
				errs = append(errs, err.Error())
			}
			if len(errs) != 2 {
				t.Fatalf("want two failures, got %q", errs)
			}
			all := logs.String() + strings.Join(errs, "\n") + fmt.Sprint(observed)
			for _, secret := range []string{
				password,
				base64.StdEncoding.EncodeToString([]byte(reg.Username + ":" + password)),
				base64.StdEncoding.EncodeToString([]byte(reg.Username + ":" + password + "x")),
				"Authorization", "Bearer ey",
			} {
				if strings.Contains(all, secret) {
					t.Errorf("%q appears in logs, errors or metrics:\n%s", secret, all)
				}
			}
			if !strings.Contains(logs.String(), "registry request") {
				t.Errorf("debug log has no request lines: %s", logs.String())
			}
		})
	}
}

// TestUserCredentialFiles takes credentials from the files of the user
// running hoist when no directory is configured: Docker's config.json
// ($DOCKER_CONFIG), then podman's, skopeo's and buildah's auth.json
// ($REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers, ~/.config/containers).
// It sets environment variables, so it cannot run in parallel.
func TestUserCredentialFiles(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{Auth: testenv.AuthBasic})
	reg.PushImage(t, "app", "v1", testenv.ImageOptions{})
	right := testenv.DockerConfig{Auths: map[string]testenv.DockerAuth{reg.Host: {Username: reg.Username, Password: reg.Password}}}
	wrong := testenv.DockerConfig{Auths: map[string]testenv.DockerAuth{reg.Host: {Username: reg.Username, Password: "wrong"}}}
	other := testenv.DockerConfig{Auths: map[string]testenv.DockerAuth{"ghcr.io": {Username: "u", Password: "p"}}}

	tests := map[string]struct {
		docker, authFile, runtime, config *testenv.DockerConfig
		wantErr                           error
	}{
		"docker":                            {docker: &right},
		"REGISTRY_AUTH_FILE":                {authFile: &right},
		"XDG_RUNTIME_DIR":                   {runtime: &right},
		"~/.config/containers":              {config: &right},
		"docker has another registry only":  {docker: &other, runtime: &right},
		"docker first":                      {docker: &wrong, runtime: &right, wantErr: registry.ErrUnauthorized},
		"REGISTRY_AUTH_FILE before runtime": {authFile: &right, runtime: &wrong},
		"runtime before ~/.config":          {runtime: &right, config: &wrong},
		"none":                              {wantErr: registry.ErrUnauthorized},
		"another registry only, everywhere": {docker: &other, authFile: &other, runtime: &other, config: &other, wantErr: registry.ErrUnauthorized},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			home := filepath.Join(dir, "home")
			t.Setenv("HOME", home)
			t.Setenv("DOCKER_CONFIG", filepath.Join(dir, "docker"))
			t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(dir, "auth-file.json"))
			t.Setenv("XDG_RUNTIME_DIR", filepath.Join(dir, "run"))
			for path, cfg := range map[string]*testenv.DockerConfig{
				filepath.Join(dir, "docker", "config.json"):               tc.docker,
				filepath.Join(dir, "auth-file.json"):                      tc.authFile,
				filepath.Join(dir, "run", "containers", "auth.json"):      tc.runtime,
				filepath.Join(home, ".config", "containers", "auth.json"): tc.config,
			} {
				if cfg != nil {
					testenv.WriteAuthFile(t, path, *cfg)
				}
			}
			c, err := registry.New(registry.WithClock(newFakeClock()), registry.WithMaxRetries(0))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.ListTags(t.Context(), registry.Repo{Image: reg.Ref("app", "")})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("ListTags error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}
