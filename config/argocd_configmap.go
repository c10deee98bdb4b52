package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/hoist-dev/hoist/config/v1alpha1"
)

// ArgoConfigMapName is the ConfigMap of Argo CD Image Updater's settings
// (see docs/argocd.md#image-updaters-configmap). The CLI and the service
// read it among their documents; the controller reads it from the API
// server, in the namespace of --argocd-image-updater-namespace.
const ArgoConfigMapName = "argocd-image-updater-config"

// ArgoImageUpdaterNamespace is the namespace Image Updater's installation
// puts its ConfigMap in, the default of --argocd-image-updater-namespace.
const ArgoImageUpdaterNamespace = "argocd"

// argoConfigMap is the part of Image Updater's ConfigMap that is read.
type argoConfigMap struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Data              map[string]string `json:"data,omitempty"`
	d                 *document
	// registries is data["registries.conf"], parsed.
	registries []argoRegistry
	// noEvents is kube.events: "false".
	noEvents bool
}

// The keys of Image Updater's ConfigMap: those hoist acts on, and those it
// accepts with a warning that says why it does not.
var (
	argoConfigActed    = []string{"git.user", "git.email", "git.commit-message-template", "git.commit-sign-off", "registries.conf", "kube.events"}
	argoConfigNotActed = map[string]string{
		"git.commit-signing-key":    "the key is a file of Image Updater's pod; sign hoist's commits with an ImageUpdateAutomation's git.commit.signingKey",
		"git.commit-signing-method": "the key is a file of Image Updater's pod; sign hoist's commits with an ImageUpdateAutomation's git.commit.signingKey",
		"log.level":                 "set hoist's --log-level",
		"applications_api":          "hoist reads Applications from the Kubernetes API",
		"argocd.server_addr":        "hoist reads Applications from the Kubernetes API",
		"argocd.grpc_web":           "hoist reads Applications from the Kubernetes API",
		"argocd.insecure":           "hoist reads Applications from the Kubernetes API",
		"argocd.plaintext":          "hoist reads Applications from the Kubernetes API",
		"argocd.namespace":          "hoist reads Applications from the Kubernetes API",
		"argocd.token":              "hoist reads Applications from the Kubernetes API",
		"interval":                  "each image is scanned on hoist's interval (5m), or at once on a registry's webhook",
		"max-concurrent-apps":       "set hoist's --concurrent",
		"kube.events.disabled":      "use kube.events: \"false\"",
	}
)

// parseArgoConfigMap reads Image Updater's ConfigMap (argocd-image-updater-
// config): its git.* keys set the commit of every automation converted
// from an Application, registries.conf the credentials and TLS of their
// registries, kube.events the controller's events on Applications. Other
// ConfigMaps are skipped.
func (l *loader) parseArgoConfigMap(d *document, root *yaml.Node) {
	name := ""
	if m := mapGet(root, "metadata"); m != nil {
		if n := mapGet(m, "name"); n != nil {
			name = n.Value
		}
	}
	if name != ArgoConfigMapName {
		return
	}
	o := &argoConfigMap{}
	d.lenient = true
	if !d.decode(root, o) {
		return
	}
	o.d = d
	if prev := l.argoConfig; prev != nil {
		d.errorf("metadata.name", "ConfigMap %s is also defined at %s:%d", ArgoConfigMapName, prev.d.file, prev.d.start.line)
		return
	}
	keys := make([]string, 0, len(o.Data))
	for k := range o.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		field := fmt.Sprintf("data[%q]", k)
		v := o.Data[k]
		switch {
		case k == "registries.conf":
			regs, err := parseArgoRegistries(v)
			if err != nil {
				d.fail(field, err)
				continue
			}
			for _, r := range regs {
				for _, w := range r.notActed() {
					d.warnf(field, "registry %q: %s", r.Name, w)
				}
			}
			o.registries = regs
		case k == "kube.events" || k == "git.commit-sign-off":
			b, ok := parseBool(v)
			if !ok {
				d.errorf(field, "%q: want true or false", v)
				continue
			}
			if k == "kube.events" {
				o.noEvents = !b
			}
		case slices.Contains(argoConfigActed, k):
		case argoConfigNotActed[k] != "":
			d.warnf(field, "not acted on: %s", argoConfigNotActed[k])
		default:
			d.warnf(field, "not a key of Image Updater's ConfigMap: not acted on")
		}
	}
	l.argoConfig = o
}

// commit sets the author and message of a converted automation's commits
// from git.user, git.email, git.commit-message-template and
// git.commit-sign-off, as Image Updater does.
func (c *argoConfigMap) commit(cs *v1alpha1.CommitSpec) {
	if v := c.Data["git.user"]; v != "" {
		cs.Author.Name = v
	}
	if v := c.Data["git.email"]; v != "" {
		cs.Author.Email = v
	}
	if v := c.Data["git.commit-message-template"]; v != "" {
		cs.MessageTemplate = v
	}
	if b, _ := parseBool(c.Data["git.commit-sign-off"]); b {
		// git commit --signoff's trailer, after a blank line.
		msg := cs.MessageTemplate
		if !strings.HasSuffix(msg, "\n") {
			msg += "\n"
		}
		cs.MessageTemplate = msg + "\nSigned-off-by: " + cs.Author.Name + " <" + cs.Author.Email + ">\n"
	}
}

// argoRegistry is one registry of Image Updater's registries.conf.
type argoRegistry struct {
	Name        string `json:"name"`
	APIURL      string `json:"api_url"`
	Prefix      string `json:"prefix,omitempty"`
	Credentials string `json:"credentials,omitempty"`
	CredsExpire string `json:"credsexpire,omitempty"`
	DefaultNS   string `json:"defaultns,omitempty"`
	Default     bool   `json:"default,omitempty"`
	Insecure    bool   `json:"insecure,omitempty"`
	Ping        bool   `json:"ping,omitempty"`
	TagSortMode string `json:"tagsortmode,omitempty"`
	Limit       int    `json:"limit,omitempty"`
	CAFile      string `json:"ca_file,omitempty"`
	CAData      string `json:"ca_data,omitempty"`
}

// parseArgoRegistries parses registries.conf as Image Updater does (YAML
// 1.1: yes and no are booleans; strict: an unknown key is an error), and
// validates it: a name and an api_url each, one registry at most without
// prefix or with default: true, a tag sort mode Image Updater knows, and
// credentials in one of its forms (ext: scripts are refused).
func parseArgoRegistries(data string) ([]argoRegistry, error) {
	var list struct {
		Registries []argoRegistry `json:"registries"`
	}
	if err := sigsyaml.UnmarshalStrict([]byte(data), &list); err != nil {
		return nil, fmt.Errorf("parsing registries.conf: %w", err)
	}
	dflt := ""
	for i, r := range list.Registries {
		at := fmt.Sprintf("registries[%d]", i)
		switch {
		case r.Name == "":
			return nil, fmt.Errorf("%s.name: required", at)
		case r.APIURL == "":
			return nil, fmt.Errorf("%s.api_url: required (registry %q)", at, r.Name)
		}
		if r.Prefix == "" || r.Default {
			if dflt != "" {
				return nil, fmt.Errorf("%s: registry %q is a default registry too (no prefix, or default: true): %q is already", at, r.Name, dflt)
			}
			dflt = r.Name
		}
		switch r.TagSortMode {
		case "", "none", "latest-first", "latest-last":
		default:
			return nil, fmt.Errorf("%s.tagsortmode: %q: want none, latest-first or latest-last", at, r.TagSortMode)
		}
		if r.CredsExpire != "" {
			if _, err := time.ParseDuration(r.CredsExpire); err != nil {
				return nil, fmt.Errorf("%s.credsexpire: %w", at, err)
			}
		}
		if r.Credentials != "" {
			if _, err := parseArgoPullSecret(r.Credentials); err != nil {
				return nil, fmt.Errorf("%s.credentials: %w", at, err)
			}
		}
	}
	return list.Registries, nil
}

// notActed names what hoist does not act on of a registry, and why.
func (r *argoRegistry) notActed() []string {
	var out []string
	if r.APIURL != "" && !r.sameEndpoint() {
		out = append(out, fmt.Sprintf("api_url %q: not acted on: hoist talks to the registry the image names (%s)", r.APIURL, r.Prefix))
	}
	if r.DefaultNS != "" && r.DefaultNS != "library" {
		out = append(out, fmt.Sprintf("defaultns %q: not acted on: name images in full (NAMESPACE/IMAGE)", r.DefaultNS))
	}
	if r.TagSortMode != "" && r.TagSortMode != "none" {
		out = append(out, "tagsortmode: not acted on: hoist reads build times of new tags only")
	}
	if r.Limit != 0 {
		out = append(out, "limit: not acted on: see hoist's --registry-rps")
	}
	if r.CredsExpire != "" {
		out = append(out, "credsexpire: not acted on: credentials are read at each scan")
	}
	if r.CAFile != "" || r.CAData != "" {
		out = append(out, "ca_file, ca_data: not acted on: give the CA with an ImageRepository's certSecretRef")
	}
	return out
}

// sameEndpoint reports whether api_url is the registry prefix names, over
// HTTPS or HTTP (Docker Hub's API host for docker.io).
func (r *argoRegistry) sameEndpoint() bool {
	u := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(r.APIURL, "https://"), "http://"), "/")
	switch r.Prefix {
	case "", "docker.io":
		return u == "registry-1.docker.io" || u == "index.docker.io" || u == "docker.io" || strings.HasPrefix(u, "index.docker.io/v1")
	}
	return u == r.Prefix
}

// registryFor returns the registry of registries.conf that Image Updater
// uses for image: the one whose prefix is the image's registry; for a
// Docker Hub image named without registry (nginx, bitnami/nginx), the
// default one (no prefix, or default: true), else docker.io's. Nil when
// none is configured.
func (c *argoConfigMap) registryFor(image string) *argoRegistry {
	host := ""
	if ref, err := name.NewRepository(image, name.WeakValidation); err == nil {
		host = ref.RegistryStr()
	}
	short := !strings.Contains(strings.SplitN(image, "/", 2)[0], ".") && !strings.Contains(strings.SplitN(image, "/", 2)[0], ":") &&
		!strings.HasPrefix(image, "localhost/")
	if host == name.DefaultRegistry || host == "docker.io" {
		host = "docker.io"
	}
	var hub *argoRegistry
	for i := range c.registries {
		r := &c.registries[i]
		if short && (r.Prefix == "" || r.Default) {
			return r
		}
		if r.Prefix == host {
			if host != "docker.io" || !short {
				return r
			}
			hub = r
		}
	}
	return hub
}
