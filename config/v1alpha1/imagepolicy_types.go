package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ImagePolicySpec says how the latest tag of an ImageRepository is chosen.
type ImagePolicySpec struct {
	// ImageRepositoryRef names the ImageRepository whose tags are chosen
	// from; its namespace defaults to the policy's.
	// +required
	ImageRepositoryRef NamespacedObjectReference `json:"imageRepositoryRef"`

	// Policy is the ordering rule; exactly one of its fields is set.
	// +required
	Policy ImagePolicyChoice `json:"policy"`

	// FilterTags drops tags before they are ordered.
	// +optional
	FilterTags *TagFilter `json:"filterTags,omitempty"`

	// DigestReflectionPolicy says when the digest of the chosen tag is
	// written next to it (NAME:TAG@DIGEST).
	// +kubebuilder:default=Never
	// +optional
	DigestReflectionPolicy ReflectionPolicy `json:"digestReflectionPolicy,omitempty"`

	// Interval is how often the digest of the chosen tag is refreshed when
	// DigestReflectionPolicy is Always.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`

	// Platforms (os/arch[/variant]) that a candidate must all serve.
	// hoist extension.
	// +optional
	Platforms []string `json:"platforms,omitempty"`

	// MinAge skips candidates built more recently than this. hoist
	// extension.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	MinAge *metav1.Duration `json:"minAge,omitempty"`

	// Suspend stops updates of this policy.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// Verify keeps only tags whose image digest carries a valid signature.
	// hoist extension (the shape of Flux's OCIRepository spec.verify).
	// +optional
	Verify *ImageVerification `json:"verify,omitempty"`

	// Hold keeps every value that follows this policy as it is in Git;
	// the policy is still scanned, and the held values are reported.
	// hoist extension.
	// +optional
	Hold bool `json:"hold,omitempty"`

	// RespectManualChanges holds a value a person changed in Git (it
	// differs from the last value hoist wrote there) until the policy
	// selects a version newer than both that value and the one hoist had
	// written. hoist extension.
	// +optional
	RespectManualChanges bool `json:"respectManualChanges,omitempty"`

	// AllowDowngrade lets the policy write a version older than the one
	// in Git; by default such a change is kept back and reported. hoist
	// extension.
	// +optional
	AllowDowngrade bool `json:"allowDowngrade,omitempty"`
}

// ImageVerification says how the signatures of candidate images are
// verified.
type ImageVerification struct {
	// Provider is the signature format: cosign.
	// +kubebuilder:validation:Enum=cosign
	// +kubebuilder:default=cosign
	// +optional
	Provider string `json:"provider,omitempty"`

	// SecretRef names the Secret holding the cosign public key (PEM) in
	// its key cosign.pub; every key of the Secret ending in .pub is a
	// trusted key. Required: keyless verification is not available.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`

	// MatchOIDCIdentity is Flux's keyless verification (the issuer and
	// subject of a Fulcio certificate). hoist refuses it: keyless
	// verification needs Sigstore's public services (Fulcio, Rekor and
	// their TUF root), which hoist does not reach.
	// +optional
	MatchOIDCIdentity []OIDCIdentityMatch `json:"matchOIDCIdentity,omitempty"`
}

// OIDCIdentityMatch is an identity of keyless signing, as Flux writes it.
type OIDCIdentityMatch struct {
	// Issuer is a regular expression over the OIDC issuer.
	// +optional
	Issuer string `json:"issuer,omitempty"`
	// Subject is a regular expression over the certificate's identity.
	// +optional
	Subject string `json:"subject,omitempty"`
}

// VerificationProviderCosign is the only verification provider.
const VerificationProviderCosign = "cosign"

// ReflectionPolicy says when a value read from the registry is written.
// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
type ReflectionPolicy string

// The reflection policies.
const (
	// ReflectAlways always writes the latest value.
	ReflectAlways ReflectionPolicy = "Always"
	// ReflectIfNotPresent writes the value only where there is none yet.
	ReflectIfNotPresent ReflectionPolicy = "IfNotPresent"
	// ReflectNever never writes the value.
	ReflectNever ReflectionPolicy = "Never"
)

// ImagePolicyChoice is a union of the ordering rules: exactly one is set.
type ImagePolicyChoice struct {
	// SemVer orders tags as semantic versions within a range.
	// +optional
	SemVer *SemVerPolicy `json:"semver,omitempty"`
	// Alphabetical orders tags byte by byte.
	// +optional
	Alphabetical *AlphabeticalPolicy `json:"alphabetical,omitempty"`
	// Numerical orders tags as numbers.
	// +optional
	Numerical *NumericalPolicy `json:"numerical,omitempty"`
	// NewestBuild orders tags by the build time of their image. hoist
	// extension.
	// +optional
	NewestBuild *NewestBuildPolicy `json:"newestBuild,omitempty"`
	// Digest follows the digest of one mutable tag. hoist extension.
	// +optional
	Digest *DigestPolicy `json:"digest,omitempty"`
}

// SemVerPolicy orders by semantic version.
type SemVerPolicy struct {
	// Range is a Masterminds/semver constraint, for example ">=1.0.0 <2".
	// +kubebuilder:validation:MinLength=1
	// +required
	Range string `json:"range"`
}

// AlphabeticalPolicy orders tags byte by byte.
type AlphabeticalPolicy struct {
	// Order: asc picks the last tag in ascending order, desc the first.
	// +kubebuilder:validation:Enum=asc;desc
	// +kubebuilder:default=asc
	// +optional
	Order string `json:"order,omitempty"`
}

// NumericalPolicy orders tags as numbers; tags that are not numbers are
// dropped.
type NumericalPolicy struct {
	// Order: asc picks the largest number, desc the smallest.
	// +kubebuilder:validation:Enum=asc;desc
	// +kubebuilder:default=asc
	// +optional
	Order string `json:"order,omitempty"`
}

// NewestBuildPolicy orders tags by their image config's "created" time.
type NewestBuildPolicy struct{}

// DigestPolicy follows the digest of one tag.
type DigestPolicy struct {
	// Tag is the (mutable) tag whose digest is followed.
	// +kubebuilder:validation:MinLength=1
	// +required
	Tag string `json:"tag"`
}

// TagFilter drops tags before they are ordered.
type TagFilter struct {
	// Pattern is an RE2 regular expression; tags that do not match are
	// dropped.
	// +optional
	Pattern string `json:"pattern,omitempty"`
	// Extract is a template over Pattern's groups ($name, ${name}, $1); the
	// result is the value that is ordered. Empty means the whole tag.
	// +optional
	Extract string `json:"extract,omitempty"`
	// Glob is a gobwas/glob pattern; tags that do not match are dropped.
	// It is ANDed with Pattern. hoist extension.
	// +optional
	Glob string `json:"glob,omitempty"`
}

// ImagePolicyStatus is the observed state of an ImagePolicy.
type ImagePolicyStatus struct {
	// LatestRef is the chosen image.
	// +optional
	LatestRef *ImageRef `json:"latestRef,omitempty"`
	// ObservedPreviousRef is the image chosen before LatestRef.
	// +optional
	ObservedPreviousRef *ImageRef `json:"observedPreviousRef,omitempty"`
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
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.status.latestRef.name`
// +kubebuilder:printcolumn:name="Tag",type=string,JSONPath=`.status.latestRef.tag`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ImagePolicy chooses the latest tag of an ImageRepository.
type ImagePolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ImagePolicySpec   `json:"spec,omitempty"`
	Status ImagePolicyStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ImagePolicyList is a list of ImagePolicy.
type ImagePolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ImagePolicy `json:"items"`
}
