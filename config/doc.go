// Package config reads hoist's policy documents: Kubernetes-style YAML files
// holding ImageRepository, ImagePolicy, ImageUpdateAutomation, GitRepository
// and Receiver objects, under hoist's group (hoist.dev/v1alpha1) or Flux's
// (image.toolkit.fluxcd.io, source.toolkit.fluxcd.io,
// notification.toolkit.fluxcd.io).
//
// Load and Parse decode every document into the types of package v1alpha1,
// fill defaults, check every field, resolve references between objects
// (across files of the same Load) and compile each ImagePolicy into a
// policy.Policy. Documents of other kinds (Deployments, Kustomizations, ...)
// are skipped. Every problem of every file is reported at once, each as an
// *Error naming the file, line and field; fields of Flux's API that hoist
// does not act on produce one Warning each.
//
// The package does no I/O beyond reading the files it is given.
package config
