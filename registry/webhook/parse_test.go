package webhook

import (
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseFixtures(t *testing.T) {
	tests := map[string]struct {
		typ    string
		event  string // X-GitHub-Event
		file   string
		want   Event
		errIs  error
		header http.Header
	}{
		"dockerhub": {typ: TypeDockerHub, file: "dockerhub.json",
			want: Event{Images: []string{"docker.io/acme/web"}, Tags: []string{"1.4.2"}}},
		"dockerhub official": {typ: TypeDockerHub, file: "dockerhub-official.json",
			want: Event{Images: []string{"docker.io/library/nginx"}, Tags: []string{"1.29"}}},
		"harbor": {typ: TypeHarbor, file: "harbor-push-artifact.json",
			want: Event{Images: []string{"harbor.example.com/platform/web"}, Tags: []string{"1.4.2"}}},
		"harbor 1.x": {typ: TypeHarbor, file: "harbor-1x-push-image.json",
			want: Event{Images: []string{"harbor.example.com:8443/library/nginx"}, Tags: []string{"1.4.2"}}},
		"harbor untagged": {typ: TypeHarbor, file: "harbor-untagged.json",
			want: Event{Ignored: "harbor push without a tag"}},
		"harbor delete": {typ: TypeHarbor, file: "harbor-delete-artifact.json",
			want: Event{Ignored: `harbor event "DELETE_ARTIFACT"`}},
		"quay": {typ: TypeQuay, file: "quay-repo-push.json",
			want: Event{Images: []string{"quay.io/acme/web"}, Tags: []string{"1.4.2", "latest"}}},
		"quay legacy tags": {typ: TypeQuay, file: "quay-legacy-tags.json",
			want: Event{Images: []string{"quay.example.com/acme/web"}, Tags: []string{"1.4.2", "latest"}}},
		"github package": {typ: TypeGitHub, event: "package", file: "github-package-published.json",
			want: Event{Images: []string{"ghcr.io/acme/web"}, Tags: []string{"1.4.2"}}},
		"github registry_package": {typ: TypeGitHub, event: "registry_package", file: "github-registry-package.json",
			want: Event{Images: []string{"ghcr.io/acme-corp/web"}, Tags: []string{"v2.0.0"}}},
		"github event name case": {typ: TypeGitHub, event: "Package", file: "github-package-published.json",
			want: Event{Images: []string{"ghcr.io/acme/web"}, Tags: []string{"1.4.2"}}},
		"github untagged": {typ: TypeGitHub, event: "package", file: "github-untagged.json",
			want: Event{Ignored: "github package version without a tag"}},
		"github ping": {typ: TypeGitHub, event: "ping", file: "github-ping.json",
			want: Event{Ignored: `github event "ping"`}},
		"github push": {typ: TypeGitHub, event: "push", file: "github-ping.json",
			want: Event{Ignored: `github event "push"`}},
		"github no event header":     {typ: TypeGitHub, file: "github-package-published.json", want: Event{AllResources: true}},
		"github package key missing": {typ: TypeGitHub, event: "package", file: "github-ping.json", errIs: ErrMalformed},
		"distribution": {typ: TypeDistribution, file: "distribution-events.json",
			want: Event{Images: []string{"registry.example.com/acme/web"}, Tags: []string{"1.4.2"}}},
		"distribution blobs only": {typ: TypeDistribution, file: "distribution-blobs-only.json",
			want: Event{Ignored: "no push of a tagged manifest"}},
		"distribution several": {typ: TypeDistribution, file: "distribution-several.json",
			want: Event{Images: []string{"127.0.0.1:5000/acme/api", "registry.example.com/acme/web"}, Tags: []string{"1.4.3", "2.0.0"}}},
		"generic":           {typ: TypeGeneric, file: "dockerhub.json", want: Event{AllResources: true}},
		"generic-hmac":      {typ: TypeGenericHMAC, file: "quay-repo-push.json", want: Event{AllResources: true}},
		"gitlab":            {typ: TypeGitLab, file: "gitlab-push.json", want: Event{AllResources: true}},
		"bitbucket":         {typ: TypeBitbucket, file: "bitbucket-push.json", want: Event{AllResources: true}},
		"nexus":             {typ: TypeNexus, file: "nexus-component.json", want: Event{AllResources: true}},
		"acr":               {typ: TypeACR, file: "acr-push.json", want: Event{Images: []string{"myregistry.azurecr.io/acme/web"}, Tags: []string{"1.4.2"}}},
		"cdevents":          {typ: TypeCDEvents, file: "cdevents-artifact-published.json", want: Event{AllResources: true}},
		"harbor older form": {typ: TypeHarbor, file: "harbor-older-events.json", want: Event{AllResources: true}},
		"gcr insert":        {typ: TypeGCR, file: "gcr-insert.json", want: Event{Images: []string{"europe-docker.pkg.dev/acme/images/web"}, Tags: []string{"1.4.2"}}},
		"gcr digest only":   {typ: TypeGCR, file: "gcr-digest-only.json", want: Event{Images: []string{"gcr.io/acme/web"}}},
		"gcr delete":        {typ: TypeGCR, file: "gcr-delete.json", want: Event{Ignored: `gcr action "DELETE"`}},
		"unknown type":      {typ: "jenkins", file: "dockerhub.json", errIs: ErrUnsupportedType},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			header := http.Header{}
			if tc.event != "" {
				header.Set("X-GitHub-Event", tc.event)
			}
			got, err := Parse(tc.typ, header, readTestdata(t, tc.file))
			if tc.errIs != nil {
				if !errors.Is(err, tc.errIs) {
					t.Fatalf("Parse: %v; want %v", err, tc.errIs)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseGitHubForm(t *testing.T) {
	body := "payload=" + url.QueryEscape(string(readTestdata(t, "github-package-published.json")))
	header := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Github-Event": {"package"}}
	got, err := Parse(TypeGitHub, header, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := Event{Images: []string{"ghcr.io/acme/web"}, Tags: []string{"1.4.2"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

// TestParseMalformed: payloads of the right shape with what is needed
// missing or wrong are refused with ErrMalformed; valid events that ask for
// nothing are not errors.
func TestParseMalformed(t *testing.T) {
	tests := map[string]struct {
		typ, event, body string
		ignored          string // "" when ErrMalformed is wanted
	}{
		"dockerhub empty":              {typ: TypeDockerHub, body: ``},
		"dockerhub not json":           {typ: TypeDockerHub, body: `repo_name=acme/web`},
		"dockerhub null":               {typ: TypeDockerHub, body: `null`, ignored: "*"},
		"dockerhub array":              {typ: TypeDockerHub, body: `[{"repository":{"repo_name":"acme/web"}}]`},
		"dockerhub truncated":          {typ: TypeDockerHub, body: `{"repository": {"repo_name": "acme/web"`},
		"dockerhub no repository":      {typ: TypeDockerHub, body: `{"push_data": {"tag": "1.0"}}`, ignored: "*"},
		"dockerhub wrong type":         {typ: TypeDockerHub, body: `{"repository": {"repo_name": 42}}`},
		"dockerhub invalid name":       {typ: TypeDockerHub, body: `{"repository": {"repo_name": "acme/we b"}}`},
		"harbor no type":               {typ: TypeHarbor, body: `{"event_data": {"resources": [{"tag": "1", "resource_url": "h.example.com/a/b:1"}]}}`, ignored: "*"},
		"harbor null":                  {typ: TypeHarbor, body: `null`, ignored: "*"},
		"harbor event_type form":       {typ: TypeHarbor, body: `{"event_type": "pushImage", "events": [{"project": "library", "repo_name": "library/nginx", "tag": "1"}]}`, ignored: "*"},
		"harbor no resources":          {typ: TypeHarbor, body: `{"type": "PUSH_ARTIFACT", "event_data": {}}`, ignored: "*"},
		"harbor no resource_url":       {typ: TypeHarbor, body: `{"type": "PUSH_ARTIFACT", "event_data": {"resources": [{"tag": "1"}]}}`},
		"harbor url without host":      {typ: TypeHarbor, body: `{"type": "PUSH_ARTIFACT", "event_data": {"resources": [{"tag": "1", "resource_url": "platform/web:1"}]}}`},
		"harbor scan":                  {typ: TypeHarbor, body: `{"type": "SCANNING_COMPLETED", "event_data": {}}`, ignored: `harbor event "SCANNING_COMPLETED"`},
		"quay nothing":                 {typ: TypeQuay, body: `{"updated_tags": ["1"]}`, ignored: "*"},
		"quay empty":                   {typ: TypeQuay, body: `{}`, ignored: "*"},
		"acr not json":                 {typ: TypeACR, body: `action=push`},
		"acr no repository":            {typ: TypeACR, body: `{"action": "push", "request": {"host": "r.azurecr.io"}}`, ignored: "*"},
		"acr delete":                   {typ: TypeACR, body: `{"action": "delete", "target": {"repository": "a"}, "request": {"host": "r.azurecr.io"}}`, ignored: `acr action "delete"`},
		"acr bad host":                 {typ: TypeACR, body: `{"action": "push", "target": {"repository": "a"}, "request": {"host": "r/x"}}`},
		"cdevents no type":             {typ: TypeCDEvents, body: `{"context": {}}`},
		"cdevents other type":          {typ: TypeCDEvents, body: `{"context": {"type": "com.example.push"}}`},
		"cdevents not json":            {typ: TypeCDEvents, body: `[]`},
		"quay bad tags":                {typ: TypeQuay, body: `{"docker_url": "quay.io/a/b", "updated_tags": 7}`},
		"quay repository only":         {typ: TypeQuay, body: `{"repository": "acme/web"}`, ignored: "-"},
		"github bad json":              {typ: TypeGitHub, event: "package", body: `{"action": "published", "package": `},
		"github no owner":              {typ: TypeGitHub, event: "package", body: `{"action": "published", "package": {"name": "web", "package_type": "container", "package_version": {"container_metadata": {"tag": {"name": "1"}}}}}`},
		"github npm":                   {typ: TypeGitHub, event: "package", body: `{"action": "published", "package": {"name": "web", "package_type": "npm", "owner": {"login": "a"}}}`, ignored: `github package type "npm"`},
		"github ecosystem":             {typ: TypeGitHub, event: "package", body: `{"action": "published", "package": {"name": "web", "ecosystem": "CONTAINER", "owner": {"login": "a"}, "package_version": {"container_metadata": {"tag": {"name": "1"}}}}}`, ignored: "-"},
		"github other action":          {typ: TypeGitHub, event: "package", body: `{"action": "deleted", "package": {"name": "web", "package_type": "container", "owner": {"login": "a"}}}`, ignored: `github package action "deleted"`},
		"distribution no events":       {typ: TypeDistribution, body: `{}`},
		"distribution null events":     {typ: TypeDistribution, body: `{"events": null}`},
		"distribution empty events":    {typ: TypeDistribution, body: `{"events": []}`, ignored: "no push of a tagged manifest"},
		"distribution no host":         {typ: TypeDistribution, body: `{"events": [{"action": "push", "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": "a/b", "tag": "1"}}]}`},
		"distribution no repository":   {typ: TypeDistribution, body: `{"events": [{"action": "push", "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "tag": "1"}, "request": {"host": "r.example.com"}}]}`},
		"distribution bad repository":  {typ: TypeDistribution, body: `{"events": [{"action": "push", "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": "a/../b", "tag": "1"}, "request": {"host": "r.example.com"}}]}`},
		"distribution host from url":   {typ: TypeDistribution, body: `{"events": [{"action": "push", "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": "a/b", "tag": "1", "url": "https://r.example.com/v2/a/b/manifests/sha256:00"}}]}`, ignored: "-"},
		"distribution events not list": {typ: TypeDistribution, body: `{"events": {"action": "push"}}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			header := http.Header{}
			if tc.event != "" {
				header.Set("X-GitHub-Event", tc.event)
			}
			got, err := Parse(tc.typ, header, []byte(tc.body))
			switch tc.ignored {
			case "":
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Parse = %+v, %v; want ErrMalformed", got, err)
				}
			case "*": // valid and names every resource
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if diff := cmp.Diff(Event{AllResources: true}, got); diff != "" {
					t.Errorf("Parse (-want +got):\n%s", diff)
				}
			case "-": // valid and triggers
				if err != nil || len(got.Images) == 0 {
					t.Fatalf("Parse = %+v, %v; want images", got, err)
				}
			default:
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if diff := cmp.Diff(Event{Ignored: tc.ignored}, got); diff != "" {
					t.Errorf("Parse (-want +got):\n%s", diff)
				}
			}
		})
	}
}
