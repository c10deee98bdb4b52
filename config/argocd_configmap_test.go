package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseArgoRegistries(t *testing.T) {
	for name, tc := range map[string]struct {
		data    string
		want    []argoRegistry
		wantErr string
	}{
		"Image Updater's example": {
			data: `registries:
- name: Docker Hub
  prefix: docker.io
  api_url: https://registry-1.docker.io
  credentials: pullsecret:argocd/hub
  defaultns: library
  default: true
  ping: yes
- name: GitHub
  prefix: ghcr.io
  api_url: https://ghcr.io
  credentials: env:GHCR
  credsexpire: 6h
  insecure: no
`,
			want: []argoRegistry{
				{Name: "Docker Hub", Prefix: "docker.io", APIURL: "https://registry-1.docker.io", Credentials: "pullsecret:argocd/hub", DefaultNS: "library", Default: true, Ping: true},
				{Name: "GitHub", Prefix: "ghcr.io", APIURL: "https://ghcr.io", Credentials: "env:GHCR", CredsExpire: "6h"},
			},
		},
		"empty":                           {data: ""},
		"no name":                         {data: "registries: [{api_url: https://x.io, prefix: x.io}]", wantErr: "registries[0].name: required"},
		"no api_url":                      {data: "registries: [{name: x, prefix: x.io}]", wantErr: `registries[0].api_url: required (registry "x")`},
		"unknown key":                     {data: "registries: [{name: x, api_url: https://x.io, prefixes: x.io}]", wantErr: `unknown field "prefixes"`},
		"two defaults":                    {data: "registries: [{name: a, api_url: https://a.io}, {name: b, api_url: https://b.io, prefix: b.io, default: true}]", wantErr: `registries[1]: registry "b" is a default registry too`},
		"unknown tag sort mode":           {data: "registries: [{name: a, api_url: https://a.io, prefix: a.io, tagsortmode: newest}]", wantErr: `registries[0].tagsortmode: "newest": want none, latest-first or latest-last`},
		"bad credsexpire":                 {data: "registries: [{name: a, api_url: https://a.io, prefix: a.io, credsexpire: soon}]", wantErr: "registries[0].credsexpire: time: invalid duration"},
		"ext: credentials, relative path": {data: "registries: [{name: a, api_url: https://a.io, prefix: a.io, credentials: 'ext:bin/x'}]", wantErr: "registries[0].credentials: pull secret \"ext:bin/x\": want ext:/ABSOLUTE/PATH"},
		"not YAML":                        {data: "registries: [", wantErr: "parsing registries.conf:"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := parseArgoRegistries(tc.data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q in it", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("registries (-want +got):\n%s", diff)
			}
		})
	}
}

// TestArgoRegistryFor: the registry of registries.conf an image uses is
// Image Updater's: by prefix, and for a Docker Hub image named without
// registry the default one, else docker.io's.
func TestArgoRegistryFor(t *testing.T) {
	withDefault := &argoConfigMap{registries: []argoRegistry{
		{Name: "ghcr", Prefix: "ghcr.io"},
		{Name: "hub", Prefix: "docker.io"},
		{Name: "local", Prefix: "localhost:5000"},
		{Name: "dflt", Prefix: "registry.example.com", Default: true},
	}}
	hubOnly := &argoConfigMap{registries: []argoRegistry{{Name: "hub", Prefix: "docker.io"}}}
	for name, tc := range map[string]struct {
		c     *argoConfigMap
		image string
		want  string // "": none
	}{
		"by prefix":                     {withDefault, "ghcr.io/acme/web", "ghcr"},
		"with a port":                   {withDefault, "localhost:5000/web", "local"},
		"no such registry":              {withDefault, "quay.io/acme/web", ""},
		"docker.io named":               {withDefault, "docker.io/bitnami/nginx", "hub"},
		"short name: the default":       {withDefault, "bitnami/nginx", "dflt"},
		"one word: the default":         {withDefault, "nginx", "dflt"},
		"short name without a default":  {hubOnly, "nginx", "hub"},
		"index.docker.io is Docker Hub": {hubOnly, "index.docker.io/library/nginx", "hub"},
	} {
		t.Run(name, func(t *testing.T) {
			got := ""
			if r := tc.c.registryFor(tc.image); r != nil {
				got = r.Name
			}
			if got != tc.want {
				t.Errorf("registryFor(%q) = %q, want %q", tc.image, got, tc.want)
			}
		})
	}
}

// FuzzArgoRegistries checks that parseArgoRegistries never panics, and
// that what it accepts has a name and an api_url in each registry.
func FuzzArgoRegistries(f *testing.F) {
	f.Add("registries:\n- name: a\n  api_url: https://a.io\n  prefix: a.io\n  credentials: env:A\n  insecure: yes\n")
	f.Add("registries: [{name: a, api_url: x, tagsortmode: latest-last, credsexpire: 1h}]")
	f.Add("registries: [{name: a, api_url: x}, {name: b, api_url: y}]")
	f.Add("registries: &a [*a]")
	f.Fuzz(func(t *testing.T, data string) {
		regs, err := parseArgoRegistries(data)
		if err != nil {
			return
		}
		for _, r := range regs {
			if r.Name == "" || r.APIURL == "" {
				t.Fatalf("accepted a registry without name or api_url: %+v", r)
			}
		}
	})
}
