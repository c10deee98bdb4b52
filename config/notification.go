package config

import (
	"fmt"
	"net/url"
	"regexp"

	"github.com/hoist-dev/hoist/config/notification/v1beta3"
	"github.com/hoist-dev/hoist/config/v1alpha1"
)

// Provider is a notification Provider and where it was read.
type Provider struct {
	*v1beta3.Provider
	Source Source
}

// Alert is a notification Alert, where it was read and the Provider it
// names.
type Alert struct {
	*v1beta3.Alert
	Source Source
	// Provider is the Provider named by spec.providerRef.
	Provider *Provider
}

// providerTypes are the Provider types hoist sends to.
var providerTypes = []string{
	v1beta3.ProviderGeneric, v1beta3.ProviderGenericHMAC, v1beta3.ProviderSlack, v1beta3.ProviderMSTeams,
	v1beta3.ProviderDiscord, v1beta3.ProviderGitHub, v1beta3.ProviderGitLab, v1beta3.ProviderGitea,
}

// fluxProviderType reports a Provider type of Flux's that hoist does not
// send to: a Flux document with it is skipped with a warning.
func fluxProviderType(t string) bool {
	switch t {
	case "rocket", "googlechat", "googlepubsub", "webex", "sentry", "azureeventhub", "telegram", "lark",
		"matrix", "opsgenie", "alertmanager", "grafana", "githubdispatch", "bitbucket", "bitbucketserver",
		"azuredevops", "pagerduty", "datadog", "nats", "otel", "zulip", "githubpullrequestcomment",
		"gitlabmergerequestcomment", "giteapullrequestcomment":
		return true
	}
	return false
}

// commitStatusType reports a Provider type that sets commit statuses: its
// address is the repository's URL and its secret holds the token.
func commitStatusType(t string) bool {
	return t == v1beta3.ProviderGitHub || t == v1beta3.ProviderGitLab || t == v1beta3.ProviderGitea
}

// alertKinds are the kinds whose events hoist sends.
var alertKinds = []string{v1alpha1.ImagePolicyKind, v1alpha1.ImageUpdateAutomationKind, v1alpha1.ImageRepositoryKind}

func (d *document) provider(o *v1beta3.Provider) bool {
	d.objectMeta(&o.TypeMeta, &o.ObjectMeta)
	s := &o.Spec
	switch {
	case s.Type == "":
		d.required("spec.type")
	case contains(providerTypes, s.Type):
	case fluxProviderType(s.Type) && d.flux:
		d.warnf("spec.type", "provider type %q of Flux's API is not sent to by hoist; provider ignored", s.Type)
		return false
	default:
		d.errorf("spec.type", "%q: want %s", s.Type, orList(providerTypes))
	}
	if s.Address != "" {
		u, err := url.Parse(s.Address)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			d.errorf("spec.address", "%q: want an http or https URL", s.Address)
		} else if commitStatusType(s.Type) && len(splitPath(u.Path)) < 2 {
			d.errorf("spec.address", "%q: want the repository's URL, such as https://github.com/OWNER/REPO", s.Address)
		}
	}
	if s.SecretRef != nil && s.SecretRef.Name == "" {
		d.required("spec.secretRef.name")
	}
	if s.Address == "" && (s.SecretRef == nil || s.SecretRef.Name == "") {
		d.errorf("spec.address", "required, or a secretRef whose secret holds the key address")
	}
	if commitStatusType(s.Type) && (s.SecretRef == nil || s.SecretRef.Name == "") {
		d.errorf("spec.secretRef", "required for type %s: its key token authenticates", s.Type)
	}
	if s.Type == v1beta3.ProviderGenericHMAC && (s.SecretRef == nil || s.SecretRef.Name == "") {
		d.errorf("spec.secretRef", "required for type generic-hmac: its key token signs the requests")
	}
	return true
}

func (d *document) alert(o *v1beta3.Alert) bool {
	d.objectMeta(&o.TypeMeta, &o.ObjectMeta)
	s := &o.Spec
	if s.ProviderRef.Name == "" {
		d.required("spec.providerRef.name")
	}
	if s.EventSeverity == "" {
		s.EventSeverity = v1beta3.SeverityInfo
	} else {
		d.oneOf("spec.eventSeverity", s.EventSeverity, v1beta3.SeverityInfo, v1beta3.SeverityError)
	}
	if len(s.EventSources) == 0 {
		d.errorf("spec.eventSources", "required: at least one object whose events are sent")
	}
	for i, r := range s.EventSources {
		p := fmt.Sprintf("spec.eventSources[%d]", i)
		switch {
		case r.Kind == "":
			d.required(p + ".kind")
		case contains(alertKinds, r.Kind):
		case d.flux:
			d.warnf(p+".kind", "kind %q has no events in hoist; ignored", r.Kind)
		default:
			d.errorf(p+".kind", "%q: want %s", r.Kind, orList(alertKinds))
		}
		if r.Name == "" {
			d.required(p + ".name")
		}
		if len(r.MatchLabels) > 0 && r.Name != "*" && r.Name != "" {
			d.warnf(p+".matchLabels", "ignored: the source is named %q (labels select only with name \"*\"), as in Flux", r.Name)
		}
	}
	for _, list := range []struct {
		path string
		res  []string
	}{{"spec.inclusionList", s.InclusionList}, {"spec.exclusionList", s.ExclusionList}} {
		for i, re := range list.res {
			if _, err := regexp.Compile(re); err != nil {
				d.fail(fmt.Sprintf("%s[%d]", list.path, i), err)
			}
		}
	}
	return true
}

// resolveAlerts links each Alert to its Provider.
func (l *loader) resolveAlerts() {
	byKey := make(map[string]*Provider, len(l.set.Providers))
	for _, p := range l.set.Providers {
		byKey[p.Namespace+"/"+p.Name] = p
	}
	for _, a := range l.set.Alerts {
		ref := a.Spec.ProviderRef.Name
		if ref == "" {
			continue
		}
		a.Provider = byKey[a.Namespace+"/"+ref]
		if a.Provider == nil && l.docs[a.Alert] != nil {
			l.docs[a.Alert].errorf("spec.providerRef.name", "no Provider %q in namespace %q", ref, a.Namespace)
		}
	}
}

// splitPath splits a URL path into its non-empty elements.
func splitPath(p string) []string {
	var out []string
	start := -1
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			if start >= 0 && i > start {
				out = append(out, p[start:i])
			}
			start = i + 1
		}
	}
	return out
}
