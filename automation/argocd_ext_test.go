package automation_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// TestArgoExtCredentials reads a registry with basic auth through Argo CD
// Image Updater's ext:/SCRIPT pull secret: a script the test writes prints
// USER:PASSWORD. Without AllowExtCredentials it is refused, naming the
// annotation and ErrExtCredentials.
func TestArgoExtCredentials(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{Auth: testenv.AuthBasic})
	reg.PushImage(t, "apps/api", "1.2.0", testenv.ImageOptions{})
	dir := t.TempDir()
	writeScript := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := writeScript("good.sh", fmt.Sprintf("echo '%s:%s'", reg.Username, reg.Password))
	wrong := writeScript("wrong.sh", fmt.Sprintf("echo '%s:nope'", reg.Username))
	failing := writeScript("failing.sh", fmt.Sprintf("echo 'secret %s' >&2; exit 3", reg.Password))
	tests := map[string]struct {
		script  string
		allow   bool
		wantTag string
		wantErr []string // substrings of the selection's error
	}{
		"refused without the flag":         {script: good, wantErr: []string{config.ArgoPullSecretAnnotation, "ext:" + good, "--allow-argocd-ext-credentials"}},
		"run with the flag":                {script: good, allow: true, wantTag: "1.2.0"},
		"wrong password":                   {script: wrong, allow: true, wantErr: []string{"401"}},
		"failing script, stderr not shown": {script: failing, allow: true, wantErr: []string{"ext:" + failing, "exit status 3", "not shown"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			set, err := config.Parse("hoist.yaml", fmt.Appendf(nil, `apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: api, namespace: apps, annotations: {%s: 'ext:%s'}}
spec: {image: %s/apps/api}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: api, namespace: apps}
spec: {imageRepositoryRef: {name: api}, policy: {semver: {range: '>=1'}}}
`, config.ArgoPullSecretAnnotation, tt.script, reg.Host))
			if err != nil {
				t.Fatal(err)
			}
			client, err := registry.New()
			if err != nil {
				t.Fatal(err)
			}
			s := &automation.Scanner{Registry: client, AllowExtCredentials: tt.allow}
			sels := s.Scan(t.Context(), set)
			if len(sels) != 1 {
				t.Fatalf("selections = %d, want 1", len(sels))
			}
			sel := sels[0]
			if len(tt.wantErr) == 0 {
				if sel.Err != nil || sel.Tag != tt.wantTag {
					t.Fatalf("selection = %q, %v; want %q", sel.Tag, sel.Err, tt.wantTag)
				}
				return
			}
			if sel.Err == nil {
				t.Fatalf("selection = %q, want an error", sel.Tag)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(sel.Err.Error(), w) {
					t.Errorf("error %q does not name %q", sel.Err, w)
				}
			}
			if strings.Contains(sel.Err.Error(), reg.Password) {
				t.Errorf("error %q holds the password", sel.Err)
			}
		})
	}
}
