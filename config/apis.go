package config

import (
	"fmt"
	"strings"

	"github.com/hoist-dev/hoist/config/notification/v1beta3"
	"github.com/hoist-dev/hoist/config/v1alpha1"
)

// The API groups whose documents are read.
const (
	fluxImageGroup        = "image.toolkit.fluxcd.io"
	fluxSourceGroup       = "source.toolkit.fluxcd.io"
	fluxNotificationGroup = "notification.toolkit.fluxcd.io"
)

// apiGroup says which kinds and versions of one group are read.
type apiGroup struct {
	flux     bool
	versions []string
	kinds    []string
	// foreign: kinds of the group that are not ours are skipped rather than
	// reported (Flux's source and notification groups hold kinds hoist has
	// nothing to do with).
	foreign bool
}

func groupOf(name string) (apiGroup, bool) {
	switch name {
	case v1alpha1.GroupName:
		return apiGroup{versions: []string{"v1alpha1"}, kinds: []string{
			v1alpha1.ImageRepositoryKind, v1alpha1.ImagePolicyKind, v1alpha1.ImageUpdateAutomationKind,
			v1alpha1.GitRepositoryKind, v1alpha1.ReceiverKind, v1beta3.ProviderKind, v1beta3.AlertKind,
		}}, true
	case fluxImageGroup:
		// Flux's image group has exactly our three kinds: another is a typo.
		return apiGroup{flux: true, versions: []string{"v1", "v1beta2"}, kinds: []string{
			v1alpha1.ImageRepositoryKind, v1alpha1.ImagePolicyKind, v1alpha1.ImageUpdateAutomationKind,
		}}, true
	case fluxSourceGroup:
		return apiGroup{flux: true, foreign: true, versions: []string{"v1", "v1beta2"}, kinds: []string{v1alpha1.GitRepositoryKind}}, true
	case argoGroup:
		// Argo CD's group holds many kinds; only Applications are read.
		return apiGroup{foreign: true, versions: []string{"v1alpha1"}, kinds: []string{ApplicationKind}}, true
	case argoImageUpdaterGroup:
		return apiGroup{versions: []string{"v1alpha1"}, kinds: []string{ImageUpdaterKind}}, true
	case fluxNotificationGroup:
		return apiGroup{flux: true, foreign: true, versions: []string{"v1", "v1beta3", "v1beta2"}, kinds: []string{
			v1alpha1.ReceiverKind, v1beta3.ProviderKind, v1beta3.AlertKind,
		}}, true
	}
	return apiGroup{}, false
}

// classify says whether a document of apiVersion and kind is ours (ok), and
// whether it is Flux's. A document of one of our groups whose kind or
// version is not read is an error of field; anything else is skipped.
func classify(apiVersion, kind string) (ok, flux bool, field string, err error) {
	group, version, found := strings.Cut(apiVersion, "/")
	if !found {
		return false, false, "", nil // the core group ("v1"), or no group
	}
	g, known := groupOf(group)
	if !known {
		return false, false, "", nil
	}
	if !contains(g.kinds, kind) {
		if g.foreign {
			return false, false, "", nil
		}
		return false, false, "kind", fmt.Errorf("unknown kind %q of %s; want %s", kind, group, orList(g.kinds))
	}
	versions := g.versions
	if group == fluxNotificationGroup && kind != v1alpha1.ReceiverKind {
		versions = []string{"v1beta3", "v1beta2"} // Flux's v1 has Receivers only
	}
	if !contains(versions, version) {
		vs := make([]string, len(versions))
		for i, v := range versions {
			vs[i] = group + "/" + v
		}
		return false, false, "apiVersion", fmt.Errorf("unsupported apiVersion %q for %s; want %s", apiVersion, kind, orList(vs))
	}
	return true, g.flux, "", nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ignoredField reports a field of the types (and of Flux's API) that hoist
// does not act on: a document that sets it gets a warning.
func ignoredField(kind, path string) bool {
	switch kind {
	case v1alpha1.ImageRepositoryKind:
		switch path {
		case "spec.accessFrom", "spec.serviceAccountName", "spec.proxySecretRef", "spec.certSecretRef":
			return true
		}
	case v1alpha1.GitRepositoryKind:
		switch path {
		case "spec.verify", "spec.ignore", "spec.include", "spec.recurseSubmodules", "spec.sparseCheckout",
			"spec.proxySecretRef", "spec.serviceAccountName":
			return true
		}
	}
	return false
}

// fluxOnlyField reports a field of Flux's API that the types do not have: a
// document that sets it gets a warning instead of an unknown-field error.
func fluxOnlyField(kind, path string) bool {
	switch kind {
	case v1alpha1.GitRepositoryKind:
		// accessFrom and gitImplementation (deprecated) are of v1beta2.
		return path == "spec.accessFrom" || path == "spec.gitImplementation"
	case v1beta3.ProviderKind:
		switch path {
		case "spec.interval", "spec.proxy", "spec.certSecretRef", "spec.commitStatusExpr", "spec.serviceAccountName":
			return true
		}
	}
	return false
}

// receiverType says whether hoist serves a Receiver type (ok), or whether it
// is one of Flux's that hoist does not serve (flux).
func receiverType(t string) (ok, flux bool) {
	switch t {
	case v1alpha1.ReceiverDockerHub, v1alpha1.ReceiverHarbor, v1alpha1.ReceiverQuay, v1alpha1.ReceiverGitHub,
		v1alpha1.ReceiverGeneric, v1alpha1.ReceiverGenericHMAC, v1alpha1.ReceiverDistribution,
		v1alpha1.ReceiverGitLab, v1alpha1.ReceiverBitbucket, v1alpha1.ReceiverACR, v1alpha1.ReceiverNexus,
		v1alpha1.ReceiverCDEvents, v1alpha1.ReceiverGCR, v1alpha1.ReceiverGenericOIDC:
		return true, false
	}
	return false, false
}

const receiverTypeList = "dockerhub, harbor, quay, github, gitlab, bitbucket, acr, nexus, cdevents, gcr, generic, generic-hmac, generic-oidc or distribution"

// receiverKind says whether a Receiver may notify objects of a kind: ours
// (ok), or one of Flux's that hoist has nothing to do with (flux).
func receiverKind(kind string) (ok, flux bool) {
	switch kind {
	case v1alpha1.ImageRepositoryKind, v1alpha1.ImagePolicyKind, v1alpha1.ImageUpdateAutomationKind,
		v1alpha1.GitRepositoryKind:
		return true, false
	case "Bucket", "Kustomization", "HelmRelease", "HelmChart", "HelmRepository", "OCIRepository",
		"ArtifactGenerator", "ExternalArtifact":
		return false, true
	}
	return false, false
}
