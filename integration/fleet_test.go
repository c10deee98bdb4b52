package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// fleetOptions shape the setup the service tests and benchmarks share.
type fleetOptions struct {
	// namespace of every document and first path element of the image.
	// Default "apps".
	namespace string
	// name of the image, its ImageRepository and ImagePolicy. Default
	// "podinfo".
	name string
	// first is the tag pushed at the start and written in Git. Default
	// "1.0.0".
	first string
	// semver is the policy's range. Default ">=1.0.0".
	semver string
	// repoInterval and autoInterval are the intervals of the
	// ImageRepository and the ImageUpdateAutomation. Default 1h.
	repoInterval, autoInterval string
	// receiver adds a distribution Receiver named "registry" for the
	// ImageRepository, with the secret "hook" holding the token.
	receiver bool
	// notify makes the registry send its push notifications to the
	// receiver (implies receiver).
	notify bool
	// flux writes the documents under Flux's groups instead of hoist.dev.
	flux bool
}

// fleet is a registry with one image, a Git repository ("fleet.git",
// branch main) holding a Deployment whose image carries a marker for the
// policy, and the documents that tie them together under dir/config, with
// dir/secrets and dir/state beside them.
type fleet struct {
	fleetOptions
	tb     testing.TB
	reg    *testenv.Registry
	git    *testenv.GitServer
	bare   string // the bare repository
	dir    string
	addr   string // hoist's --listen address
	digest string // of the image; tag it again to push a new version
}

// hookToken is the receiver's token.
const hookToken = "hook-token-123"

func newFleet(tb testing.TB, o fleetOptions) *fleet {
	tb.Helper()
	if o.namespace == "" {
		o.namespace = "apps"
	}
	if o.name == "" {
		o.name = "podinfo"
	}
	if o.first == "" {
		o.first = "1.0.0"
	}
	if o.semver == "" {
		o.semver = ">=1.0.0"
	}
	if o.repoInterval == "" {
		o.repoInterval = "1h"
	}
	if o.autoInterval == "" {
		o.autoInterval = "1h"
	}
	o.receiver = o.receiver || o.notify
	f := &fleet{fleetOptions: o, tb: tb, dir: tb.TempDir(), addr: freeAddr(tb)}
	ro := testenv.RegistryOptions{}
	if o.notify {
		ro.NotifyURL = f.hookURL()
		ro.NotifyHeaders = http.Header{"Authorization": {"Bearer " + hookToken}}
	}
	f.reg = testenv.NewRegistry(tb, ro)
	f.digest = f.reg.PushImage(tb, f.image(), o.first, testenv.ImageOptions{Created: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)})

	f.git = testenv.NewGitServer(tb, testenv.GitServerOptions{})
	f.bare = f.git.RepoDir("fleet.git")
	testenv.GitInitBare(tb, f.bare, "main")
	testenv.GitCommitFiles(tb, f.bare, "main", "initial", map[string]string{
		f.manifest(): deploymentYAML(o.name, f.reg.Ref(f.image(), o.first), o.namespace+":"+o.name),
	})
	if o.receiver {
		writeFile(tb, filepath.Join(f.dir, "secrets", "hook", "token"), hookToken)
	}
	f.writeConfig()
	return f
}

// image is the repository path of the image in the registry.
func (f *fleet) image() string { return f.namespace + "/" + f.name }

// manifest is the path of the Deployment in the Git repository.
func (f *fleet) manifest() string { return "apps/" + f.name + ".yaml" }

// hookURL is the URL of the receiver "registry".
func (f *fleet) hookURL() string {
	return "http://" + f.addr + hookPath(hookToken, "registry", f.namespace)
}

// hookPath is a receiver's URL path as Flux computes it: /hook/ + hex
// SHA-256 of token + name + namespace.
func hookPath(token, name, namespace string) string {
	sum := sha256.Sum256([]byte(token + name + namespace))
	return "/hook/" + hex.EncodeToString(sum[:])
}

// config is the configuration directory.
func (f *fleet) config() string { return filepath.Join(f.dir, "config") }

// writeConfig writes the documents for the current options.
func (f *fleet) writeConfig() {
	source, image := "hoist.dev/v1alpha1", "hoist.dev/v1alpha1"
	if f.flux {
		source, image = "source.toolkit.fluxcd.io/v1", "image.toolkit.fluxcd.io/v1beta2"
	}
	docs := fmt.Sprintf(`apiVersion: %[1]s
kind: GitRepository
metadata: {name: fleet, namespace: %[3]s}
spec: {url: %[4]s, ref: {branch: main}}
---
apiVersion: %[2]s
kind: ImageRepository
metadata: {name: %[5]s, namespace: %[3]s}
spec: {image: %[6]s, interval: %[7]s}
---
apiVersion: %[2]s
kind: ImagePolicy
metadata: {name: %[5]s, namespace: %[3]s}
spec:
  imageRepositoryRef: {name: %[5]s}
  policy: {semver: {range: '%[8]s'}}
---
apiVersion: %[2]s
kind: ImageUpdateAutomation
metadata: {name: fleet, namespace: %[3]s}
spec:
  interval: %[9]s
  sourceRef: {kind: GitRepository, name: fleet}
  git:
    checkout: {ref: {branch: main}}
    commit: {author: {name: hoist, email: hoist@example.com}}
  update: {path: ./apps, strategy: Setters}
`, source, image, f.namespace, f.git.RepoURL("fleet.git"), f.name, f.reg.Ref(f.image(), ""), f.repoInterval, f.semver, f.autoInterval)
	if f.receiver {
		docs += fmt.Sprintf(`---
apiVersion: hoist.dev/v1alpha1
kind: Receiver
metadata: {name: registry, namespace: %s}
spec:
  type: distribution
  resources: [{kind: ImageRepository, name: %s}]
  secretRef: {name: hook}
`, f.namespace, f.name)
	}
	writeFile(f.tb, filepath.Join(f.config(), "hoist.yaml"), docs)
}

// start starts `hoist run` on the fleet's configuration, state and secrets.
func (f *fleet) start(args ...string) *hoistProcess {
	f.tb.Helper()
	env := []string{"HOIST_STATE_DIR=" + filepath.Join(f.dir, "state"), "HOIST_SECRETS_DIR=" + filepath.Join(f.dir, "secrets")}
	return startHoist(f.tb, f.addr, env, append([]string{"-c", f.config()}, args...)...)
}

// push tags the image again and returns the head of main before the push.
func (f *fleet) push(tags ...string) string {
	f.tb.Helper()
	head := refHead(f.tb, f.bare, "main")
	f.reg.Tag(f.tb, f.image(), f.digest, tags...)
	return head
}

// head is main's head; deployed is the Deployment on main.
func (f *fleet) head() string { return refHead(f.tb, f.bare, "main") }

func (f *fleet) deployed() string {
	return testenv.GitCLI(f.tb, f.bare, "show", "main:"+f.manifest())
}
