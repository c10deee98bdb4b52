package registry_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// TestPrivateRealm runs a registry on 127.0.0.1 whose token service is on
// 127.0.0.1 too, on another port: a realm on a loopback IP literal, which
// go-containerregistry refuses unless it is the registry's own host:port.
func TestPrivateRealm(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{Auth: testenv.AuthToken, RealmOnIP: true})
	reg.PushImage(t, "team/app", "v1", testenv.ImageOptions{})
	port := reg.Host[strings.LastIndexByte(reg.Host, ':'):]
	realmHost := strings.TrimPrefix(reg.Token.URL, "http://")

	tests := map[string]struct {
		host       string // how the registry is named
		realmHosts []string
		password   string
		wantErr    error
	}{
		"realm on the registry's own host":             {host: reg.Host},
		"registry by name, realm not trusted":          {host: "localhost" + port, wantErr: registry.ErrRealmRefused},
		"registry by name, realm trusted as host:port": {host: "localhost" + port, realmHosts: []string{realmHost}},
		"registry by name, realm trusted as host":      {host: "localhost" + port, realmHosts: []string{"127.0.0.1"}},
		"registry by name, other host trusted":         {host: "localhost" + port, realmHosts: []string{"10.0.0.1"}, wantErr: registry.ErrRealmRefused},
		"trusted realm, wrong password":                {host: reg.Host, password: "wrong", wantErr: registry.ErrUnauthorized},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pw := reg.Password
			if tc.password != "" {
				pw = tc.password
			}
			repo := registry.Repo{
				Image:      tc.host + "/team/app",
				Keychain:   secretFor(t, tc.host, reg.Username, pw),
				RealmHosts: tc.realmHosts,
			}
			got, err := newClient(t, newFakeClock()).ListTags(t.Context(), repo)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ListTags error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"v1"}, got.Tags); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
		})
	}
}
