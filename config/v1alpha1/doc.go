// Package v1alpha1 holds hoist's Kubernetes API types, group hoist.dev,
// version v1alpha1: ImageRepository, ImagePolicy, ImageUpdateAutomation,
// GitRepository and Receiver.
//
// The field names are Flux's (image.toolkit.fluxcd.io,
// source.toolkit.fluxcd.io, notification.toolkit.fluxcd.io), so documents
// written for Flux decode into these types unchanged; hoist's extensions are
// marked as such. Files are read into these types by package config; the
// Kubernetes controller serves the same types as custom resources.
//
// +kubebuilder:object:generate=true
// +groupName=hoist.dev
package v1alpha1

//go:generate go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.20.0 object paths=.
