package git_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/writeback"
	"github.com/hoist-dev/hoist/writeback/git"
)

const (
	testUser     = "hoist-bot"
	testPassword = "s3cret-passw0rd"
	manifest     = "apps/podinfo.yaml"
)

// manifestWith is a Deployment manifest using image.
func manifestWith(image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: apps
spec:
  template:
    spec:
      containers:
        - name: app
          image: %s # {"$imagepolicy": "apps:podinfo"}
`, image)
}

// fixture is a Git smart HTTP server with basic auth holding fleet.git,
// whose main branch has a manifest and a README.
type fixture struct {
	srv  *testenv.GitServer
	url  string
	bare string
	base string // the SHA of main after seeding
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := testenv.NewGitServer(t, testenv.GitServerOptions{Username: testUser, Password: testPassword})
	f := &fixture{srv: srv, url: srv.CreateRepo(t, "fleet.git", "main"), bare: srv.RepoDir("fleet.git")}
	f.base = testenv.GitCommitFiles(t, f.bare, "main", "Initial manifests", map[string]string{
		manifest:    manifestWith("ghcr.io/stefanprodan/podinfo:6.0.0"),
		"README.md": "# fleet\n",
	})
	return f
}

func (f *fixture) syncOptions(t *testing.T) git.SyncOptions {
	return git.SyncOptions{
		URL:      f.url,
		Branch:   "main",
		CacheDir: filepath.Join(t.TempDir(), "git"),
		Auth:     git.Auth{Username: testUser, Password: testPassword},
	}
}

func mustSync(t *testing.T, opts git.SyncOptions) *git.Checkout {
	t.Helper()
	co, err := git.Sync(context.Background(), opts)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	t.Cleanup(co.Close)
	return co
}

// fixedClock returns a clock that starts at a fixed time and advances a
// second per call, so commits are reproducible.
func fixedClock() func() time.Time {
	t := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		t = t.Add(time.Second)
		return t
	}
}

func commitOptions() git.CommitOptions {
	return git.CommitOptions{
		Author:     git.Signature{Name: "hoist", Email: "hoist@example.com"},
		Automation: git.NamespacedName{Namespace: "apps", Name: "prod"},
		Now:        fixedClock(),
	}
}

// setImage is an EditFunc that plans from the file as it is: it replaces
// whatever image:tag of podinfo the manifest has with newImage, writing the
// file with temp+rename like the manifest writer.
// imageChange is the change setImage makes to the manifest's one image.
func imageChange(oldImage, newImage string) writeback.Change {
	return writeback.Change{
		File: manifest, Line: 11,
		Object: writeback.Object{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "apps", Name: "podinfo"},
		Field:  "spec.template.spec.containers[name=app].image",
		Old:    oldImage, New: newImage, Setter: "apps:podinfo",
	}
}

func setImage(newImage string) git.EditFunc {
	return func(ctx context.Context, dir string) ([]writeback.Change, error) {
		p := filepath.Join(dir, filepath.FromSlash(manifest))
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var changes []writeback.Change
		lines := strings.Split(string(b), "\n")
		for i, l := range lines {
			before, rest, ok := strings.Cut(l, "image: ")
			if !ok {
				continue
			}
			old, comment, _ := strings.Cut(rest, " ")
			if old == newImage {
				continue
			}
			lines[i] = before + "image: " + newImage + " " + comment
			changes = append(changes, writeback.Change{
				File: manifest, Line: i + 1,
				Object: writeback.Object{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "apps", Name: "podinfo"},
				Field:  "spec.template.spec.containers[name=app].image",
				Old:    old, New: newImage, Setter: "apps:podinfo",
			})
		}
		if len(changes) == 0 {
			return nil, nil
		}
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			return nil, err
		}
		return changes, os.Rename(tmp, p)
	}
}

// show returns `git show` of rev's file in the bare repository.
func show(t *testing.T, bare, rev, file string) string {
	t.Helper()
	return testenv.GitCLI(t, bare, "show", rev+":"+file)
}

// fsck fails the test when the repository at dir is inconsistent.
func fsck(t *testing.T, dir string) {
	t.Helper()
	testenv.GitCLI(t, dir, "fsck", "--no-progress", "--no-dangling")
}
