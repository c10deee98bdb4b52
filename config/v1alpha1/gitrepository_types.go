package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GitRepositorySpec says where a Git repository is and how to reach it.
type GitRepositorySpec struct {
	// URL of the repository: http, https, ssh or file, or scp-like
	// user@host:path.
	// +kubebuilder:validation:MinLength=1
	// +required
	URL string `json:"url"`

	// SecretRef names the Secret with the credentials: username and
	// password, or bearerToken, for HTTP(S); identity, identity.pub and
	// known_hosts for SSH; ca.crt for a private CA.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`

	// Provider says how to authenticate.
	// +kubebuilder:validation:Enum=generic;aws;azure;github
	// +optional
	Provider string `json:"provider,omitempty"`

	// ServiceAccountName is used by Flux's azure and aws providers.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// Interval at which the repository is fetched when running as a
	// service.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:default="5m"
	// +optional
	Interval metav1.Duration `json:"interval,omitempty"`

	// Timeout of Git operations.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:default="60s"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// Reference to check out; not set: the remote's default branch.
	// +optional
	Reference *GitRepositoryRef `json:"ref,omitempty"`

	// Verification of commit signatures (Flux's API).
	// +optional
	Verification *GitRepositoryVerification `json:"verify,omitempty"`

	// ProxySecretRef names a Secret with the proxy to use (Flux's API).
	// +optional
	ProxySecretRef *LocalObjectReference `json:"proxySecretRef,omitempty"`

	// Ignore holds .sourceignore patterns (Flux's API).
	// +optional
	Ignore *string `json:"ignore,omitempty"`

	// Suspend stops fetches of this repository and the automations using
	// it.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// RecurseSubmodules clones submodules too (Flux's API).
	// +optional
	RecurseSubmodules bool `json:"recurseSubmodules,omitempty"`

	// Include lists GitRepositories whose contents are included (Flux's
	// API).
	// +optional
	Include []GitRepositoryInclude `json:"include,omitempty"`

	// SparseCheckout lists the directories checked out (Flux's API).
	// +optional
	SparseCheckout []string `json:"sparseCheckout,omitempty"`
}

// GitRepositoryRef is the Git reference to check out. Commit takes
// precedence over Name, Name over SemVer, SemVer over Tag, Tag over Branch.
type GitRepositoryRef struct {
	// Branch to check out.
	// +optional
	Branch string `json:"branch,omitempty"`
	// Tag to check out.
	// +optional
	Tag string `json:"tag,omitempty"`
	// SemVer is a range; the greatest matching tag is checked out.
	// +optional
	SemVer string `json:"semver,omitempty"`
	// Name is a full reference name, for example refs/heads/main.
	// +optional
	Name string `json:"name,omitempty"`
	// Commit is a commit hash; with Branch, the branch is fetched shallowly.
	// +optional
	Commit string `json:"commit,omitempty"`
}

// GitRepositoryInclude includes another GitRepository's contents.
type GitRepositoryInclude struct {
	// GitRepositoryRef names the GitRepository.
	// +required
	GitRepositoryRef LocalObjectReference `json:"repository"`
	// FromPath is the path copied from.
	// +optional
	FromPath string `json:"fromPath,omitempty"`
	// ToPath is the path copied to.
	// +optional
	ToPath string `json:"toPath,omitempty"`
}

// GitRepositoryVerification is Flux's commit signature verification.
type GitRepositoryVerification struct {
	// Mode says which objects are verified.
	// +kubebuilder:validation:Enum=head;HEAD;Tag;TagAndHEAD
	// +optional
	Mode string `json:"mode,omitempty"`
	// SecretRef names the Secret with the trusted public keys.
	// +required
	SecretRef LocalObjectReference `json:"secretRef"`
}

// GitRepositoryStatus is the observed state of a GitRepository.
type GitRepositoryStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastHandledReconcileAt is the value of the reconcile request
	// annotation last handled.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=hoist
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// GitRepository is a Git repository that ImageUpdateAutomations write to.
type GitRepository struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   GitRepositorySpec   `json:"spec,omitempty"`
	Status GitRepositoryStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// GitRepositoryList is a list of GitRepository.
type GitRepositoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GitRepository `json:"items"`
}
