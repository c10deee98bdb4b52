package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// argoCDCRDs are minimal CustomResourceDefinitions of Argo CD's
// Application and Argo CD Image Updater's ImageUpdater: the group,
// version, kind and scope of the real ones, with spec and status kept as
// given. Argo CD itself cannot run in the tests (it needs a cluster to
// deploy to and its repository server); the tests write an Application's
// status as Argo CD would. Like Argo CD's own, the Application has no
// status subresource.
const argoCDCRDs = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: applications.argoproj.io
spec:
  group: argoproj.io
  names: {kind: Application, listKind: ApplicationList, plural: applications, singular: application, shortNames: [app, apps]}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        required: [metadata, spec]
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: imageupdaters.argocd-image-updater.argoproj.io
spec:
  group: argocd-image-updater.argoproj.io
  names: {kind: ImageUpdater, listKind: ImageUpdaterList, plural: imageupdaters, singular: imageupdater}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

// ArgoCDCRDs writes minimal CustomResourceDefinitions of Argo CD's
// Application and Image Updater's ImageUpdater into a directory of their
// own, for StartKube.
func ArgoCDCRDs(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "argocd.yaml"), []byte(argoCDCRDs), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}
