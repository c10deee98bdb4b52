package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ImageRepositorySpec says which image repository is scanned for tags, and
// how.
type ImageRepositorySpec struct {
	// Image is the repository, without tag or digest, for example
	// ghcr.io/stefanprodan/podinfo.
	// +kubebuilder:validation:MinLength=1
	// +required
	Image string `json:"image"`

	// Interval is the polling period when running as a service.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:default="5m"
	// +optional
	Interval metav1.Duration `json:"interval,omitempty"`

	// Timeout bounds one scan.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:default="60s"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// SecretRef names a Secret of type kubernetes.io/dockerconfigjson
	// holding the registry's credentials (key .dockerconfigjson). Without it
	// Docker's config.json and its credential helpers are used.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`

	// ProxySecretRef names a Secret with the proxy to use (Flux's API).
	// +optional
	ProxySecretRef *LocalObjectReference `json:"proxySecretRef,omitempty"`

	// ServiceAccountName is a Kubernetes ServiceAccount of the object's
	// namespace (controller only, as in Flux): with provider generic its
	// image pull secrets are the registry's credentials (after SecretRef);
	// with aws, azure or gcp its token is exchanged for the cloud identity
	// its annotations name (eks.amazonaws.com/role-arn,
	// azure.workload.identity/client-id, iam.gke.io/gcp-service-account).
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// CertSecretRef names a Secret with a client certificate (tls.crt,
	// tls.key) and/or a CA certificate (ca.crt) for the registry.
	// +optional
	CertSecretRef *LocalObjectReference `json:"certSecretRef,omitempty"`

	// Suspend stops scans of this repository.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// AccessFrom selects the namespaces whose ImagePolicies may use this
	// repository (controller only, as in Flux); without it, only the
	// policies of its own namespace may.
	// +optional
	AccessFrom *AccessFrom `json:"accessFrom,omitempty"`

	// ExclusionList holds RE2 patterns; tags matching any are never
	// candidates. When not set, cosign's .sig, .att and .sbom tags are
	// excluded.
	// +kubebuilder:validation:MaxItems=25
	// +optional
	ExclusionList []string `json:"exclusionList,omitempty"`

	// Provider says how to authenticate: generic (credentials from
	// SecretRef or Docker's configuration), or the workload's identity in
	// the cloud the registry belongs to: aws (ECR), gcp (Artifact Registry,
	// GCR), azure (ACR). A registry host of another cloud is an error.
	// +kubebuilder:validation:Enum=generic;aws;azure;gcp
	// +kubebuilder:default=generic
	// +optional
	Provider string `json:"provider,omitempty"`

	// Insecure allows plain HTTP and unverified TLS.
	// +optional
	Insecure bool `json:"insecure,omitempty"`

	// TokenRealmHosts names token services (host, or host:port) that may
	// sit on a private, loopback or link-local IP address, as in-cluster
	// registries' do. A realm on such an address is refused unless it is on
	// the registry's own host or named here (hoist extension).
	// +kubebuilder:validation:MaxItems=10
	// +optional
	TokenRealmHosts []string `json:"tokenRealmHosts,omitempty"`
}

// ScanResult describes the last scan of an image repository.
type ScanResult struct {
	// Revision is a stable hash of the scanned tags.
	// +optional
	Revision string `json:"revision,omitempty"`
	// TagCount is the number of tags found.
	TagCount int `json:"tagCount"`
	// ScanTime is when the scan finished.
	// +optional
	ScanTime metav1.Time `json:"scanTime,omitempty"`
	// LatestTags is a sample of the tags found, the first ten in descending
	// alphabetical order.
	// +optional
	LatestTags []string `json:"latestTags,omitempty"`
}

// ImageRepositoryStatus is the observed state of an ImageRepository.
type ImageRepositoryStatus struct {
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the last reconciled generation.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// CanonicalImageName is the repository with implied parts made
	// explicit, for example index.docker.io/library/alpine.
	// +optional
	CanonicalImageName string `json:"canonicalImageName,omitempty"`
	// LastScanResult describes the last successful scan.
	// +optional
	LastScanResult *ScanResult `json:"lastScanResult,omitempty"`
	// ObservedExclusionList is the exclusion list of the last scan.
	// +optional
	ObservedExclusionList []string `json:"observedExclusionList,omitempty"`
	// LastHandledReconcileAt is the value of the reconcile request
	// annotation last handled.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=hoist
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.image`
// +kubebuilder:printcolumn:name="Tags",type=integer,JSONPath=`.status.lastScanResult.tagCount`
// +kubebuilder:printcolumn:name="Last scan",type=date,JSONPath=`.status.lastScanResult.scanTime`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ImageRepository is an image repository whose tags are scanned.
type ImageRepository struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ImageRepositorySpec   `json:"spec,omitempty"`
	Status ImageRepositoryStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ImageRepositoryList is a list of ImageRepository.
type ImageRepositoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ImageRepository `json:"items"`
}
