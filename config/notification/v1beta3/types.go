// Package v1beta3 holds the types of the Provider and Alert documents, the
// subset of Flux's notification.toolkit.fluxcd.io/v1beta3 API that hoist
// sends notifications with (see docs/notifications.md). They are read from
// files, under Flux's group or hoist.dev/v1alpha1, and are not served as
// CustomResourceDefinitions.
package v1beta3

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hoist-dev/hoist/config/v1alpha1"
)

// The kinds of Flux's notification API that hoist sends to.
const (
	ProviderKind = "Provider"
	AlertKind    = "Alert"
)

// The types of Provider that hoist sends to (a subset of Flux's).
const (
	ProviderGeneric     = "generic"
	ProviderGenericHMAC = "generic-hmac"
	ProviderSlack       = "slack"
	ProviderMSTeams     = "msteams"
	ProviderDiscord     = "discord"
	ProviderGitHub      = "github"
	ProviderGitLab      = "gitlab"
	ProviderGitea       = "gitea"
)

// The severities of events and of Alert.spec.eventSeverity.
const (
	SeverityInfo  = "info"
	SeverityError = "error"
)

// ProviderSpec says where and how notifications are sent, as Flux's
// notification.toolkit.fluxcd.io/v1beta3 Provider.
type ProviderSpec struct {
	// Type of the receiving service.
	// +kubebuilder:validation:Enum=generic;generic-hmac;slack;msteams;discord;github;gitlab;gitea
	// +required
	Type string `json:"type"`

	// Channel is the Slack channel the message is posted to.
	// +optional
	Channel string `json:"channel,omitempty"`

	// Username is the name the message is posted as (Slack, Discord).
	// +optional
	Username string `json:"username,omitempty"`

	// Address is the webhook URL, or for the commit status types the
	// repository's HTTP(S) URL; the secret's address key overrides it.
	// +optional
	Address string `json:"address,omitempty"`

	// Timeout of one request; default 15s.
	// +kubebuilder:validation:Type=string
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// SecretRef names the Secret with the keys address, token, headers
	// (a YAML map of HTTP headers, for generic and generic-hmac) and
	// username. generic-hmac signs with token; github, gitlab and gitea
	// authenticate with it.
	// +optional
	SecretRef *v1alpha1.LocalObjectReference `json:"secretRef,omitempty"`

	// Suspend stops sending.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// Provider is a receiver of notifications (Flux's notification API).
// Read from files; not served as a CustomResourceDefinition.
type Provider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ProviderSpec `json:"spec,omitempty"`
}

// AlertSpec says which events are sent to which Provider, as Flux's
// notification.toolkit.fluxcd.io/v1beta3 Alert.
type AlertSpec struct {
	// ProviderRef names the Provider, in the Alert's namespace.
	// +required
	ProviderRef v1alpha1.LocalObjectReference `json:"providerRef"`

	// EventSeverity is the least severity sent: info (default) sends
	// info and error events, error only errors.
	// +kubebuilder:validation:Enum=info;error
	// +optional
	EventSeverity string `json:"eventSeverity,omitempty"`

	// EventSources are the objects whose events are sent.
	// +required
	EventSources []v1alpha1.CrossNamespaceObjectReference `json:"eventSources"`

	// InclusionList: when set, only events whose message matches one of
	// these regular expressions are sent.
	// +optional
	InclusionList []string `json:"inclusionList,omitempty"`

	// ExclusionList: events whose message matches one of these regular
	// expressions are not sent.
	// +optional
	ExclusionList []string `json:"exclusionList,omitempty"`

	// EventMetadata is added to the metadata of every event sent.
	// +optional
	EventMetadata map[string]string `json:"eventMetadata,omitempty"`

	// Summary is added to the metadata as "summary" (deprecated in Flux
	// for eventMetadata).
	// +optional
	Summary string `json:"summary,omitempty"`

	// Suspend stops sending.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// Alert routes events to a Provider (Flux's notification API). Read from
// files; not served as a CustomResourceDefinition.
type Alert struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AlertSpec `json:"spec,omitempty"`
}
