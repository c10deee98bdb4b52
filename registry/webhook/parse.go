package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// ErrMalformed is returned (wrapped) by Parse when a payload cannot be read,
// or does not name what its event is about.
var ErrMalformed = errors.New("malformed webhook payload")

// ErrUnsupportedType is returned (wrapped) by Parse for a receiver type it
// does not know.
var ErrUnsupportedType = errors.New("unsupported receiver type")

// Event is what a valid payload asks for.
type Event struct {
	// Images are the normalised repositories the payload names, sorted and
	// without duplicates.
	Images []string
	// Tags are the tags the payload names, sorted and without duplicates,
	// for logs only: they are never a selection.
	Tags []string
	// AllResources is set when a request names no repository (the generic
	// types, forges, a payload without a repository): every resource of
	// the receiver is rescanned.
	AllResources bool
	// Ignored says why a valid payload asks for nothing (a ping, a blob
	// push, a deletion); empty when it asks for a rescan.
	Ignored string
}

// Parse reads the payload of a request to a receiver of type typ (one of
// the Type constants). Only github reads header: X-GitHub-Event, and
// Content-Type for form-encoded deliveries. Parse checks no signature: that
// is the Handler's job, before it parses.
func Parse(typ string, header http.Header, body []byte) (Event, error) {
	switch typ {
	case TypeGeneric, TypeGenericHMAC, TypeGenericOIDC, TypeGitLab, TypeBitbucket, TypeNexus:
		return Event{AllResources: true}, nil
	case TypeACR:
		return parseACR(body)
	case TypeGCR:
		return parseGCR(body)
	case TypeCDEvents:
		return parseCDEvents(header.Get("Ce-Type"), body)
	case TypeDockerHub:
		return parseDockerHub(body)
	case TypeHarbor:
		return parseHarbor(body)
	case TypeQuay:
		return parseQuay(body)
	case TypeDistribution:
		return parseDistribution(body)
	case TypeGitHub:
		if mediaType(header.Get("Content-Type")) == "application/x-www-form-urlencoded" {
			form, err := url.ParseQuery(string(body))
			if err != nil {
				return Event{}, fmt.Errorf("github payload: %w: form: %v", ErrMalformed, err)
			}
			body = []byte(form.Get("payload"))
		}
		return parseGitHub(header.Get("X-GitHub-Event"), body)
	}
	return Event{}, fmt.Errorf("parsing payload: %w %q", ErrUnsupportedType, typ)
}

// decode unmarshals a JSON object or null (which leaves v as it is),
// refusing anything else.
func decode(typ string, body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if string(body) == "null" {
		return nil
	}
	if len(body) == 0 || body[0] != '{' {
		return fmt.Errorf("%s payload: %w: not a JSON object", typ, ErrMalformed)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s payload: %w: %v", typ, ErrMalformed, err)
	}
	return nil
}

// eventBuilder collects images and tags, normalising images.
type eventBuilder struct {
	typ    string
	images []string
	tags   []string
}

func (b *eventBuilder) add(image, tag string) error {
	n, ok := normalize(image)
	if !ok {
		return fmt.Errorf("%s payload: %w: %q is not an image repository", b.typ, ErrMalformed, truncate(image))
	}
	b.images = append(b.images, n)
	if tag != "" {
		b.tags = append(b.tags, tag)
	}
	return nil
}

func (b *eventBuilder) event(ignored string) Event {
	if len(b.images) == 0 {
		return Event{Ignored: ignored}
	}
	return Event{Images: sortedSet(b.images), Tags: sortedSet(b.tags)}
}

func sortedSet(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	sort.Strings(s)
	return slices.Compact(s)
}

// truncate shortens untrusted text quoted in errors and logs.
func truncate(s string) string {
	const max = 100
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// withHost prefixes name with host when its first component is not a host.
func withHost(host, name string) string {
	name = strings.TrimSpace(name)
	if i := strings.Index(name, "://"); i >= 0 {
		return name // the scheme says it is a URL with a host
	}
	if h, _ := splitHost(name); h != "" {
		return name
	}
	return host + "/" + name
}

// parseDockerHub reads Docker Hub's push payload: the repository is
// repository.repo_name (else namespace/name) on docker.io.
func parseDockerHub(body []byte) (Event, error) {
	var p struct {
		PushData struct {
			Tag string `json:"tag"`
		} `json:"push_data"`
		Repository struct {
			RepoName  string `json:"repo_name"`
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
		} `json:"repository"`
	}
	if err := decode(TypeDockerHub, body, &p); err != nil {
		return Event{}, err
	}
	repo := p.Repository.RepoName
	if repo == "" && p.Repository.Name != "" {
		repo = p.Repository.Name
		if p.Repository.Namespace != "" {
			repo = p.Repository.Namespace + "/" + repo
		}
	}
	if repo == "" {
		return Event{AllResources: true}, nil // Flux triggers whatever the body
	}
	b := eventBuilder{typ: TypeDockerHub}
	if err := b.add(DockerHub+"/"+repo, p.PushData.Tag); err != nil {
		return Event{}, err
	}
	return b.event(""), nil
}

// quayTags reads Quay's updated_tags: a list of tags, or in very old
// payloads an object keyed by tag.
type quayTags []string

func (t *quayTags) UnmarshalJSON(data []byte) error {
	var list []string
	if err := json.Unmarshal(data, &list); err == nil {
		*t = list
		return nil
	}
	var keyed map[string]json.RawMessage
	if err := json.Unmarshal(data, &keyed); err != nil {
		return errors.New("updated_tags: want a list of tags or an object keyed by tag")
	}
	*t = make([]string, 0, len(keyed))
	for tag := range keyed {
		*t = append(*t, tag)
	}
	return nil
}

// parseQuay reads Quay's repo_push payload: the repository is docker_url,
// else repository on quay.io.
func parseQuay(body []byte) (Event, error) {
	var p struct {
		DockerURL   string   `json:"docker_url"`
		Repository  string   `json:"repository"`
		UpdatedTags quayTags `json:"updated_tags"`
	}
	if err := decode(TypeQuay, body, &p); err != nil {
		return Event{}, err
	}
	image := p.DockerURL
	if image == "" && p.Repository != "" {
		image = "quay.io/" + p.Repository
	}
	if image == "" {
		return Event{AllResources: true}, nil
	}
	b := eventBuilder{typ: TypeQuay}
	if err := b.add(withHost("quay.io", image), ""); err != nil {
		return Event{}, err
	}
	b.tags = append(b.tags, p.UpdatedTags...)
	return b.event(""), nil
}

// parseHarbor reads Harbor's PUSH_ARTIFACT (2.x) and pushImage (1.x)
// payloads: each resource with a tag names resource_url's repository. Other
// event types are ignored.
func parseHarbor(body []byte) (Event, error) {
	var p struct {
		Type      string `json:"type"`
		EventData struct {
			Resources []struct {
				Digest      string `json:"digest"`
				Tag         string `json:"tag"`
				ResourceURL string `json:"resource_url"`
			} `json:"resources"`
		} `json:"event_data"`
	}
	if err := decode(TypeHarbor, body, &p); err != nil {
		return Event{}, err
	}
	switch {
	case p.Type == "":
		// Older forms (event_type and events), null: the payload names
		// nothing hoist reads.
		return Event{AllResources: true}, nil
	case !strings.EqualFold(p.Type, "PUSH_ARTIFACT") && !strings.EqualFold(p.Type, "pushImage"):
		return Event{Ignored: fmt.Sprintf("harbor event %q", truncate(p.Type))}, nil
	case len(p.EventData.Resources) == 0:
		return Event{AllResources: true}, nil
	}
	b := eventBuilder{typ: TypeHarbor}
	for _, r := range p.EventData.Resources {
		if r.ResourceURL == "" {
			return Event{}, fmt.Errorf("harbor payload: %w: a resource has no resource_url", ErrMalformed)
		}
		if h, _ := splitHost(strings.TrimSpace(r.ResourceURL)); h == "" && !strings.Contains(r.ResourceURL, "://") {
			return Event{}, fmt.Errorf("harbor payload: %w: resource_url %q has no registry host", ErrMalformed, truncate(r.ResourceURL))
		}
		// Without a tag, Harbor puts the digest in tag and "@" in the URL.
		if r.Tag == "" || strings.Contains(r.Tag, ":") || strings.Contains(r.ResourceURL, "@") {
			continue
		}
		if err := b.add(r.ResourceURL, r.Tag); err != nil {
			return Event{}, err
		}
	}
	return b.event("harbor push without a tag"), nil
}

// githubPackage is the package object of GitHub's package and
// registry_package events.
type githubPackage struct {
	Name        string `json:"name"`
	PackageType string `json:"package_type"`
	Ecosystem   string `json:"ecosystem"`
	Owner       struct {
		Login string `json:"login"`
	} `json:"owner"`
	PackageVersion struct {
		PackageURL        string `json:"package_url"`
		ContainerMetadata struct {
			Tag struct {
				Name string `json:"name"`
			} `json:"tag"`
		} `json:"container_metadata"`
	} `json:"package_version"`
}

// parseGitHub reads GitHub's package and registry_package events (event is
// the X-GitHub-Event header): a container package version with a tag names
// HOST/OWNER/NAME, HOST from package_url, else ghcr.io, and OWNER
// lowercased. Other events (ping among them) are ignored.
func parseGitHub(event string, body []byte) (Event, error) {
	event = strings.ToLower(strings.TrimSpace(event))
	var p struct {
		Action          string         `json:"action"`
		Package         *githubPackage `json:"package"`
		RegistryPackage *githubPackage `json:"registry_package"`
	}
	switch event {
	case "":
		// Not a GitHub delivery hoist can read; Flux triggers anyway.
		return Event{AllResources: true}, nil
	case "package", "registry_package":
	default:
		return Event{Ignored: fmt.Sprintf("github event %q", truncate(event))}, nil
	}
	if err := decode(TypeGitHub, body, &p); err != nil {
		return Event{}, err
	}
	pkg := p.Package
	if event == "registry_package" && p.RegistryPackage != nil || pkg == nil {
		pkg = p.RegistryPackage
	}
	if pkg == nil {
		return Event{}, fmt.Errorf("github payload: %w: no package", ErrMalformed)
	}
	switch strings.ToLower(p.Action) {
	case "published", "updated":
	default:
		return Event{Ignored: fmt.Sprintf("github package action %q", truncate(p.Action))}, nil
	}
	kind := pkg.PackageType
	if kind == "" {
		kind = pkg.Ecosystem
	}
	if !strings.EqualFold(kind, "container") {
		return Event{Ignored: fmt.Sprintf("github package type %q", truncate(kind))}, nil
	}
	if pkg.Owner.Login == "" || pkg.Name == "" {
		return Event{}, fmt.Errorf("github payload: %w: no package owner login or name", ErrMalformed)
	}
	tag := pkg.PackageVersion.ContainerMetadata.Tag.Name
	if tag == "" {
		return Event{Ignored: "github package version without a tag"}, nil
	}
	host := "ghcr.io"
	if u := strings.TrimSpace(pkg.PackageVersion.PackageURL); u != "" {
		if i := strings.Index(u, "://"); i >= 0 {
			u = u[i+3:]
		}
		if h, _ := splitHost(u); h != "" {
			host = h
		}
	}
	b := eventBuilder{typ: TypeGitHub}
	if err := b.add(host+"/"+strings.ToLower(pkg.Owner.Login)+"/"+pkg.Name, tag); err != nil {
		return Event{}, err
	}
	return b.event(""), nil
}

// isManifest says whether a media type is that of a manifest or an index,
// whose tagged pushes Distribution reports.
func isManifest(mediaType string) bool {
	switch mediaType {
	case "application/vnd.oci.image.manifest.v1+json",
		"application/vnd.oci.image.index.v1+json",
		"application/vnd.docker.distribution.manifest.v2+json",
		"application/vnd.docker.distribution.manifest.list.v2+json",
		"application/vnd.docker.distribution.manifest.v1+json",
		"application/vnd.docker.distribution.manifest.v1+prettyjws":
		return true
	}
	return false
}

// parseDistribution reads a CNCF Distribution notifications envelope: each
// push of a manifest with a tag names request.host (else the host of
// target.url) + "/" + target.repository. Blob pushes, pulls, mounts,
// deletions and pushes by digest are ignored.
func parseDistribution(body []byte) (Event, error) {
	var p struct {
		Events *[]struct {
			Action string `json:"action"`
			Target struct {
				MediaType  string `json:"mediaType"`
				Repository string `json:"repository"`
				URL        string `json:"url"`
				Tag        string `json:"tag"`
			} `json:"target"`
			Request struct {
				Host string `json:"host"`
			} `json:"request"`
		} `json:"events"`
	}
	if err := decode(TypeDistribution, body, &p); err != nil {
		return Event{}, err
	}
	if p.Events == nil {
		return Event{}, fmt.Errorf("distribution payload: %w: no events", ErrMalformed)
	}
	b := eventBuilder{typ: TypeDistribution}
	for _, e := range *p.Events {
		t := e.Target
		if e.Action != "push" || t.Tag == "" || !isManifest(mediaType(t.MediaType)) {
			continue
		}
		if t.Repository == "" {
			return Event{}, fmt.Errorf("distribution payload: %w: a push event has no target.repository", ErrMalformed)
		}
		host := e.Request.Host
		if host == "" {
			if u, err := url.Parse(t.URL); err == nil {
				host = u.Host
			}
		}
		if host == "" || strings.ContainsAny(host, "/@") {
			return Event{}, fmt.Errorf("distribution payload: %w: a push event has no request.host or target.url", ErrMalformed)
		}
		if strings.Contains(t.Repository, "://") {
			return Event{}, fmt.Errorf("distribution payload: %w: target.repository %q is not a repository", ErrMalformed, truncate(t.Repository))
		}
		if err := b.add(host+"/"+t.Repository, t.Tag); err != nil {
			return Event{}, err
		}
	}
	return b.event("no push of a tagged manifest"), nil
}

// mediaType returns the lowercased media type of a Content-Type value,
// without parameters; "" when it cannot be parsed.
func mediaType(contentType string) string {
	if contentType == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return mt
}

// parseACR reads Azure Container Registry's push payload: request.host +
// "/" + target.repository, as Flux decodes it. A push without a repository
// names every resource; other actions are ignored.
func parseACR(body []byte) (Event, error) {
	var p struct {
		Action string `json:"action"`
		Target struct {
			Repository string `json:"repository"`
			Tag        string `json:"tag"`
		} `json:"target"`
		Request struct {
			Host string `json:"host"`
		} `json:"request"`
	}
	if err := decode(TypeACR, body, &p); err != nil {
		return Event{}, err
	}
	if p.Action != "" && !strings.EqualFold(p.Action, "push") && !strings.EqualFold(p.Action, "chart_push") {
		return Event{Ignored: fmt.Sprintf("acr action %q", truncate(p.Action))}, nil
	}
	if p.Target.Repository == "" || p.Request.Host == "" {
		return Event{AllResources: true}, nil
	}
	if strings.ContainsAny(p.Request.Host, "/@") {
		return Event{}, fmt.Errorf("acr payload: %w: request.host %q is not a host", ErrMalformed, truncate(p.Request.Host))
	}
	b := eventBuilder{typ: TypeACR}
	if err := b.add(p.Request.Host+"/"+p.Target.Repository, p.Target.Tag); err != nil {
		return Event{}, err
	}
	return b.event(""), nil
}

// parseCDEvents reads a CDEvent (binary mode, Ce-Type header, or structured
// mode, context.type in the body): it must be a JSON object whose type is
// a CDEvents type (dev.cdevents.*), as Flux checks. It names no image.
func parseCDEvents(ceType string, body []byte) (Event, error) {
	var p struct {
		Context struct {
			Type string `json:"type"`
		} `json:"context"`
	}
	if err := decode(TypeCDEvents, body, &p); err != nil {
		return Event{}, err
	}
	typ := ceType
	if typ == "" {
		typ = p.Context.Type
	}
	if !strings.HasPrefix(typ, "dev.cdevents.") {
		return Event{}, fmt.Errorf("cdevents payload: %w: type %q is not a CDEvents type", ErrMalformed, truncate(typ))
	}
	return Event{AllResources: true}, nil
}
