package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ImageUpdateAutomationSpec says where the images chosen by policies are
// written, and how the change is committed and pushed.
type ImageUpdateAutomationSpec struct {
	// SourceRef names the GitRepository to update. Either SourceRef or
	// Git.URL is set.
	// +optional
	SourceRef *CrossNamespaceSourceReference `json:"sourceRef,omitempty"`

	// Git says how to check out, commit and push.
	// +optional
	Git *GitSpec `json:"git,omitempty"`

	// Interval is the period of the automation when running as a service.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:default="5m"
	// +optional
	Interval metav1.Duration `json:"interval,omitempty"`

	// PolicySelector selects the ImagePolicies, in the automation's
	// namespace, that this automation applies. Not set: all of them.
	// +optional
	PolicySelector *metav1.LabelSelector `json:"policySelector,omitempty"`

	// Update says which files are updated.
	// +kubebuilder:default={"strategy":"Setters","path":"."}
	// +optional
	Update *UpdateStrategy `json:"update,omitempty"`

	// Suspend stops this automation.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// GitSpec says how to check out, commit and push.
type GitSpec struct {
	// URL of the repository to update, inline instead of SourceRef
	// (http, https, ssh, file, or scp-like user@host:path). hoist
	// extension.
	// +optional
	URL string `json:"url,omitempty"`

	// SecretRef names the Secret with the credentials for URL (keys as in
	// GitRepository). hoist extension, used with URL.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`

	// Checkout says which reference is checked out; not set: the
	// GitRepository's ref, or the remote's default branch.
	// +optional
	Checkout *GitCheckoutSpec `json:"checkout,omitempty"`

	// Commit says how commits are made.
	// +required
	Commit CommitSpec `json:"commit"`

	// Push says where commits are pushed; not set: to the checked-out
	// branch.
	// +optional
	Push *PushSpec `json:"push,omitempty"`
}

// GitCheckoutSpec says which reference is checked out.
type GitCheckoutSpec struct {
	// Reference is the branch, tag, semver range, reference name or commit.
	// +required
	Reference GitRepositoryRef `json:"ref"`
}

// CommitSpec says how commits are made.
type CommitSpec struct {
	// Author of the commits.
	// +required
	Author CommitUser `json:"author"`

	// SigningKey names the Secret with the key commits are signed with.
	// +optional
	SigningKey *SigningKey `json:"signingKey,omitempty"`

	// MessageTemplate is a Go text/template for the commit message, with
	// the data of Flux's templates.
	// +optional
	MessageTemplate string `json:"messageTemplate,omitempty"`

	// MessageTemplateValues are available to the template as .Values.
	// +optional
	MessageTemplateValues map[string]string `json:"messageTemplateValues,omitempty"`
}

// CommitUser is a commit's author.
type CommitUser struct {
	// Name of the author.
	// +optional
	Name string `json:"name,omitempty"`
	// Email of the author.
	// +kubebuilder:validation:MinLength=1
	// +required
	Email string `json:"email"`
}

// SigningKey names the Secret with a commit signing key.
type SigningKey struct {
	// SecretRef names the Secret: git.asc and passphrase for OpenPGP,
	// identity and password for SSH.
	// +required
	SecretRef LocalObjectReference `json:"secretRef"`

	// Type of the key; default gpg.
	// +kubebuilder:validation:Enum=gpg;ssh
	// +optional
	Type SigningKeyType `json:"type,omitempty"`
}

// SigningKeyType is the format of a commit signing key.
type SigningKeyType string

// The signing key types.
const (
	// SigningKeyGPG is an ASCII-armoured OpenPGP key in git.asc.
	SigningKeyGPG SigningKeyType = "gpg"
	// SigningKeySSH is an SSH private key in identity.
	SigningKeySSH SigningKeyType = "ssh"
)

// PushSpec says where commits are pushed.
type PushSpec struct {
	// Branch to push to, created from the checked-out commit when missing.
	// Not set: the checked-out branch.
	// +optional
	Branch string `json:"branch,omitempty"`

	// Refspec to push, in addition to Branch. It must not force-update
	// (+) or delete (:dst).
	// +kubebuilder:validation:Pattern="^$|^[^+:]"
	// +optional
	Refspec string `json:"refspec,omitempty"`

	// Options are git push options sent to the server.
	// +optional
	Options map[string]string `json:"options,omitempty"`

	// PullRequest opens (or updates) a pull request from Branch to the
	// checked-out branch. hoist extension.
	// +optional
	PullRequest *PullRequestSpec `json:"pullRequest,omitempty"`
}

// PullRequestSpec says how a pull request is opened. hoist extension.
type PullRequestSpec struct {
	// Title is a Go text/template for the title, with the commit message's
	// data.
	// +optional
	Title string `json:"title,omitempty"`
	// Body is a Go text/template for the description.
	// +optional
	Body string `json:"body,omitempty"`
	// Labels are added to the pull request.
	// +optional
	Labels []string `json:"labels,omitempty"`
	// AutoMerge asks the forge to merge once checks pass.
	// +optional
	AutoMerge bool `json:"autoMerge,omitempty"`
	// Provider is the forge; not set: guessed from the repository URL.
	// +kubebuilder:validation:Enum=github;gitlab;gitea
	// +optional
	Provider string `json:"provider,omitempty"`
	// APIURL is the forge's API endpoint, for self-hosted forges.
	// +optional
	APIURL string `json:"apiURL,omitempty"`
	// GroupBy splits the changes into one branch and one pull request per
	// group: automation (default) keeps one for the whole automation;
	// policy makes one per policy, on branch PREFIX/POLICY; path one per
	// directory of the changed files, on branch PREFIX/DIR. PREFIX is
	// push.branch, else hoist/AUTOMATION.
	// +kubebuilder:validation:Enum=automation;policy;path
	// +optional
	GroupBy PullRequestGroupBy `json:"groupBy,omitempty"`
}

// PullRequestGroupBy says how changes are split into pull requests.
type PullRequestGroupBy string

// The groupings of pull requests.
const (
	// GroupByAutomation opens one pull request for all the automation's
	// changes.
	GroupByAutomation PullRequestGroupBy = "automation"
	// GroupByPolicy opens one pull request per policy.
	GroupByPolicy PullRequestGroupBy = "policy"
	// GroupByPath opens one pull request per directory of changed files.
	GroupByPath PullRequestGroupBy = "path"
)

// UpdateStrategyName names how files are updated.
// +kubebuilder:validation:Enum=Setters
type UpdateStrategyName string

// UpdateStrategySetters updates the values marked with $imagepolicy markers
// and annotated workloads.
const UpdateStrategySetters UpdateStrategyName = "Setters"

// UpdateStrategy says which files are updated, and how.
type UpdateStrategy struct {
	// Strategy is the update strategy.
	// +kubebuilder:default=Setters
	// +optional
	Strategy UpdateStrategyName `json:"strategy,omitempty"`
	// Path is the directory, relative to the repository's root, under which
	// files are updated.
	// +kubebuilder:default="."
	// +optional
	Path string `json:"path,omitempty"`
	// Include are globs of files under Path (slash paths relative to it;
	// * stays in a directory, ** crosses directories) read for markers in
	// comments whatever their names, besides YAML and the text files known
	// by name (Jsonnet, CUE, HCL, TOML, .env, Dockerfiles). Hoist extension.
	// +optional
	Include []string `json:"include,omitempty"`
}

// ImageUpdateAutomationStatus is the observed state of an
// ImageUpdateAutomation.
type ImageUpdateAutomationStatus struct {
	// LastAutomationRunTime is when the automation last ran to completion.
	// +optional
	LastAutomationRunTime *metav1.Time `json:"lastAutomationRunTime,omitempty"`
	// LastPushCommit is the hash of the last commit pushed.
	// +optional
	LastPushCommit string `json:"lastPushCommit,omitempty"`
	// LastPushTime is when the last commit was pushed.
	// +optional
	LastPushTime *metav1.Time `json:"lastPushTime,omitempty"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedPolicies maps each applied policy's name to its image.
	// +optional
	ObservedPolicies map[string]ImageRef `json:"observedPolicies,omitempty"`
	// ObservedSourceRevision is the last revision of the source seen.
	// +optional
	ObservedSourceRevision string `json:"observedSourceRevision,omitempty"`
	// LastHandledReconcileAt is the value of the reconcile request
	// annotation last handled.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
	// KeptChanges are the changes the last run kept back: held values,
	// values changed by hand (respectManualChanges) and downgrades.
	// +optional
	KeptChanges []KeptChange `json:"keptChanges,omitempty"`
}

// KeptChange is a change an automation kept back: Old stays in Git.
type KeptChange struct {
	// File is the file's path from the repository's root.
	File string `json:"file"`
	// Old is the value in Git; New the one the policy selected.
	Old string `json:"old"`
	New string `json:"new"`
	// Policy is the policy key (NAMESPACE:NAME, or an inline key).
	// +optional
	Policy string `json:"policy,omitempty"`
	// Reason is hold, manual or downgrade.
	Reason string `json:"reason"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=hoist
// +kubebuilder:printcolumn:name="Last run",type=string,JSONPath=`.status.lastAutomationRunTime`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ImageUpdateAutomation writes the images chosen by ImagePolicies to a Git
// repository.
type ImageUpdateAutomation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ImageUpdateAutomationSpec   `json:"spec,omitempty"`
	Status ImageUpdateAutomationStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ImageUpdateAutomationList is a list of ImageUpdateAutomation.
type ImageUpdateAutomationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ImageUpdateAutomation `json:"items"`
}
