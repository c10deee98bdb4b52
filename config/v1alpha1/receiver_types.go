package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The types of Receiver that hoist serves.
const (
	ReceiverDockerHub    = "dockerhub"
	ReceiverHarbor       = "harbor"
	ReceiverQuay         = "quay"
	ReceiverGitHub       = "github"
	ReceiverGeneric      = "generic"
	ReceiverGenericHMAC  = "generic-hmac"
	ReceiverDistribution = "distribution" // CNCF distribution notifications; hoist extension
	ReceiverGitLab       = "gitlab"
	ReceiverBitbucket    = "bitbucket"
	ReceiverACR          = "acr"
	ReceiverNexus        = "nexus"
	ReceiverCDEvents     = "cdevents"
	ReceiverGCR          = "gcr"
	ReceiverGenericOIDC  = "generic-oidc"
)

// DefaultOIDCAudience is the audience (the aud claim) the ID tokens of a
// generic-oidc Receiver must be issued for when a provider names none, as in
// Flux.
const DefaultOIDCAudience = "notification-controller"

// ReceiverSpec says which webhook requests trigger which rescans.
type ReceiverSpec struct {
	// Type of the sender, which decides how a request is authenticated and
	// read.
	// +kubebuilder:validation:Enum=dockerhub;harbor;quay;github;generic;generic-hmac;generic-oidc;distribution;gitlab;bitbucket;acr;nexus;cdevents;gcr
	// +required
	Type string `json:"type"`

	// Interval at which the Receiver is reconciled (Flux's API).
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`

	// Events lists the event types handled, for example "push" for GitHub;
	// not set: all.
	// +optional
	Events []string `json:"events,omitempty"`

	// Resources are rescanned when a request is accepted.
	// +kubebuilder:validation:MinItems=1
	// +required
	Resources []CrossNamespaceObjectReference `json:"resources"`

	// ResourceFilter is a CEL expression evaluated for each resource when a
	// request is accepted, with the variables req (req.body, req.headers)
	// and res (the resource); false leaves the resource out (Flux v1).
	// +optional
	ResourceFilter string `json:"resourceFilter,omitempty"`

	// SecretRef names the Secret whose key token authenticates requests and
	// is part of the webhook's path. Required for every type but
	// generic-oidc, which must not set it.
	// +optional
	SecretRef LocalObjectReference `json:"secretRef,omitzero"`

	// OIDCProviders authenticate the requests of a generic-oidc Receiver:
	// each carries an OIDC ID token as a bearer token, verified by the
	// provider whose issuerURL is the token's iss claim. Set only for
	// generic-oidc, which needs at least one.
	// +optional
	OIDCProviders []OIDCProvider `json:"oidcProviders,omitempty"`

	// Suspend stops handling requests.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// OIDCProvider is an OIDC issuer whose ID tokens a generic-oidc Receiver
// accepts, as in Flux.
type OIDCProvider struct {
	// IssuerURL is the issuer: its discovery document is served at
	// IssuerURL/.well-known/openid-configuration, and it must be the iss
	// claim of the tokens.
	// +kubebuilder:validation:Pattern="^https?://"
	// +required
	IssuerURL string `json:"issuerURL"`

	// Audience is the aud claim the tokens must carry; default
	// "notification-controller".
	// +optional
	Audience string `json:"audience,omitempty"`

	// Variables are named CEL expressions over the token's claims (claims)
	// and the variables before them (vars), evaluated in order.
	// +optional
	Variables []OIDCVariable `json:"variables,omitempty"`

	// Validations are CEL expressions over claims and vars that must all
	// be true for a request to be accepted.
	// +kubebuilder:validation:MinItems=1
	// +required
	Validations []OIDCValidation `json:"validations"`
}

// OIDCVariable is a named CEL expression of an OIDCProvider.
type OIDCVariable struct {
	// +required
	Name string `json:"name"`
	// +required
	Expression string `json:"expression"`
}

// OIDCValidation is a CEL expression of an OIDCProvider that must be true;
// Message says why a request is refused when it is not.
type OIDCValidation struct {
	// +required
	Expression string `json:"expression"`
	// +required
	Message string `json:"message"`
}

// ReceiverStatus is the observed state of a Receiver.
type ReceiverStatus struct {
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// WebhookPath is the path the Receiver is served at,
	// /hook/sha256(token+name+namespace).
	// +optional
	WebhookPath string `json:"webhookPath,omitempty"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// LastHandledReconcileAt is the value of the reconcile request
	// annotation last handled.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=hoist
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Receiver turns webhook requests from registries and forges into rescans.
type Receiver struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ReceiverSpec   `json:"spec,omitempty"`
	Status ReceiverStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ReceiverList is a list of Receiver.
type ReceiverList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Receiver `json:"items"`
}
