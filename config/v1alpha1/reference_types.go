package v1alpha1

// LocalObjectReference names an object in the namespace of the referrer,
// typically a Secret.
type LocalObjectReference struct {
	// Name of the referent.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// NamespacedObjectReference names an object, by default in the namespace of
// the referrer.
type NamespacedObjectReference struct {
	// Name of the referent.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
	// Namespace of the referent; defaults to the namespace of the referrer.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// CrossNamespaceSourceReference names the Git source of an
// ImageUpdateAutomation.
type CrossNamespaceSourceReference struct {
	// APIVersion of the referent.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// Kind of the referent.
	// +kubebuilder:validation:Enum=GitRepository
	// +kubebuilder:default=GitRepository
	// +optional
	Kind string `json:"kind,omitempty"`
	// Name of the referent.
	// +kubebuilder:validation:MinLength=1
	// +required
	Name string `json:"name"`
	// Namespace of the referent; defaults to the namespace of the referrer.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// CrossNamespaceObjectReference names an object a Receiver notifies.
type CrossNamespaceObjectReference struct {
	// APIVersion of the referent.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// Kind of the referent.
	// +required
	Kind string `json:"kind"`
	// Name of the referent; "*" with MatchLabels selects several.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
	// Namespace of the referent; defaults to the namespace of the Receiver.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// MatchLabels selects referents by label when Name is "*".
	// +optional
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// AccessFrom is Flux's access control list for cross-namespace references:
// the controller lets an ImagePolicy of another namespace use an
// ImageRepository only when one of its selectors matches the labels of the
// policy's namespace. Outside a cluster it is ignored.
type AccessFrom struct {
	// NamespaceSelectors selects the namespaces allowed to refer to the object.
	// +required
	NamespaceSelectors []NamespaceSelector `json:"namespaceSelectors"`
}

// NamespaceSelector selects namespaces by label.
type NamespaceSelector struct {
	// MatchLabels is a map of label keys and values.
	// +optional
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// ImageRef is an image reference split into its parts.
type ImageRef struct {
	// Name is the image's repository.
	// +required
	Name string `json:"name"`
	// Tag is the image's tag.
	// +required
	Tag string `json:"tag"`
	// Digest is the image's digest.
	// +optional
	Digest string `json:"digest,omitempty"`
}

// String returns the reference as NAME:TAG[@DIGEST].
func (in *ImageRef) String() string {
	s := in.Name + ":" + in.Tag
	if in.Digest != "" {
		s += "@" + in.Digest
	}
	return s
}
