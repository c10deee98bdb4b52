package integration

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// TestArgoCDGolden runs hoist run --once on repositories set up for Argo CD
// and Argo CD Image Updater (testdata/argocd/CASE: config.yaml, the
// repository's input/ tree and the expected/ tree after the run), against a
// real registry and git http-backend, and compares every file of the
// branch (main, or the one branch.txt names) with expected/ byte for byte,
// and the commit message with message.txt when the case has one. REGISTRY and GITURL in the files stand
// for the servers' addresses.
func TestArgoCDGolden(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	day := func(d int) testenv.ImageOptions {
		return testenv.ImageOptions{Created: time.Date(2026, 10, d, 0, 0, 0, 0, time.UTC)}
	}
	web := reg.PushImage(t, "apps/web", "1.2.0", day(1))
	reg.Tag(t, "apps/web", web, "1.2.5", "1.3.0", "1.4.0-rc1", "2.0.0", "20240101")
	reg.PushImage(t, "apps/side", "build-1", day(1))
	reg.PushImage(t, "apps/side", "build-2", day(2))
	reg.PushImage(t, "apps/side", "build-3-rc1", day(3)) // ignored: ignoreTags *-rc*

	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{})
	cases, err := os.ReadDir(filepath.Join("testdata", "argocd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name(), func(t *testing.T) {
			caseDir := filepath.Join("testdata", "argocd", c.Name())
			bare := gitSrv.RepoDir(c.Name() + ".git")
			testenv.GitInitBare(t, bare, "main")
			subst := strings.NewReplacer("REGISTRY", reg.Host, "GITURL", gitSrv.RepoURL(c.Name()+".git"))
			input := readTree(t, filepath.Join(caseDir, "input"), subst)
			testenv.GitCommitFiles(t, bare, "main", "initial", input)

			dir := t.TempDir()
			cfg, err := os.ReadFile(filepath.Join(caseDir, "config.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "config", "config.yaml"), subst.Replace(string(cfg)))
			secrets := filepath.Join(dir, "secrets")
			writeFile(t, filepath.Join(secrets, "fleet-auth", "username"), "hoist")
			writeFile(t, filepath.Join(secrets, "fleet-auth", "password"), "unused")
			env := []string{"HOIST_STATE_DIR=" + filepath.Join(dir, "state")}
			r := hoist(t, env, "run", "--once", "-c", filepath.Join(dir, "config"), "--secrets-dir", secrets)
			if r.code != 0 {
				t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			want := readTree(t, filepath.Join(caseDir, "expected"), subst)
			branch := "main"
			if b, err := os.ReadFile(filepath.Join(caseDir, "branch.txt")); err == nil {
				branch = strings.TrimSpace(string(b))
			}
			tree := func(branch string) map[string]string {
				got := map[string]string{}
				for _, f := range strings.Fields(testenv.GitCLI(t, bare, "ls-tree", "-r", "--name-only", branch)) {
					got[f] = testenv.GitCLI(t, bare, "show", branch+":"+f)
				}
				return got
			}
			if diff := cmp.Diff(want, tree(branch)); diff != "" {
				t.Errorf("branch %s after the run (-want +got):\n%s", branch, diff)
			}
			if branch != "main" {
				if diff := cmp.Diff(input, tree("main")); diff != "" {
					t.Errorf("main changed (-want +got):\n%s", diff)
				}
			}
			msg := testenv.GitCLI(t, bare, "log", "-1", "--format=%an <%ae>%n%B", branch)
			if wantMsg, err := os.ReadFile(filepath.Join(caseDir, "message.txt")); err == nil {
				if diff := cmp.Diff(subst.Replace(string(wantMsg)), msg); diff != "" {
					t.Errorf("commit message (-want +got):\n%s", diff)
				}
			} else if cmp.Equal(want, input) {
				if !strings.Contains(msg, "initial") {
					t.Errorf("nothing to write, but a commit was made:\n%s", msg)
				}
			} else if !strings.Contains(msg, "build: automatic update of ") || !strings.Contains(msg, "updates image ") {
				t.Errorf("commit message is not Image Updater's default:\n%s", msg)
			}
			// Nothing new: a second run does nothing.
			head := testenv.GitHead(t, bare, branch)
			r = hoist(t, env, "run", "--once", "-c", filepath.Join(dir, "config"), "--secrets-dir", secrets)
			if r.code != 0 || testenv.GitHead(t, bare, branch) != head {
				t.Errorf("second run: exit %d, %s moved: %v\n%s\n%s", r.code, branch, testenv.GitHead(t, bare, branch) != head, r.stdout, r.stderr)
			}
		})
	}
}

// readTree reads the files under dir, slash paths relative to it, with
// subst applied to their contents.
func readTree(t *testing.T, dir string, subst *strings.Replacer) map[string]string {
	t.Helper()
	out := map[string]string{}
	var names []string
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		names = append(names, rel)
		out[filepath.ToSlash(rel)] = subst.Replace(string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	return out
}

// TestArgoCDPullSecrets scans a registry that asks for credentials with
// Image Updater's pull secret forms: secret:NS/NAME#FIELD from the secrets
// directory and env:VAR.
func TestArgoCDPullSecrets(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{Auth: testenv.AuthBasic, Username: "puller", Password: "pull-pw-1"})
	reg.PushImage(t, "apps/web", "1.0.0", testenv.ImageOptions{})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	app := func(name, secret string) string {
		return `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: ` + name + `
  annotations:
    argocd-image-updater.argoproj.io/image-list: web=` + reg.Host + `/apps/web
    argocd-image-updater.argoproj.io/web.pull-secret: ` + secret + `
    argocd-image-updater.argoproj.io/write-back-method: git
spec:
  source: {repoURL: https://git.example.com/r.git, targetRevision: main, path: .}
`
	}
	writeFile(t, cfg, app("by-secret", "secret:argocd/regcreds#creds")+"---\n"+app("by-env", "env:REG_CREDS")+"---\n"+app("wrong", "env:REG_WRONG"))
	secrets := filepath.Join(dir, "secrets")
	writeFile(t, filepath.Join(secrets, "regcreds", "creds"), "puller:pull-pw-1\n")
	r := hoist(t, []string{"REG_CREDS=puller:pull-pw-1", "REG_WRONG=puller:nope"}, "scan", "-c", cfg, "--secrets-dir", secrets, "-o", "json")
	var out struct {
		Policies []struct{ Name, Tag, Error string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s\n%s", err, r.stdout, r.stderr)
	}
	got := map[string]string{}
	for _, p := range out.Policies {
		got[p.Name] = p.Tag
		if p.Error != "" {
			got[p.Name] = "error"
		}
	}
	want := map[string]string{"by-secret-web": "1.0.0", "by-env-web": "1.0.0", "wrong-web": "error"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("scan (-want +got):\n%s\n%s", diff, r.stdout)
	}
	if strings.Contains(r.stdout+r.stderr, "pull-pw-1") || strings.Contains(r.stdout+r.stderr, "nope") {
		t.Errorf("a password leaked into the output:\n%s\n%s", r.stdout, r.stderr)
	}
}

// TestArgoCDPullRequestGitea: an ImageUpdater asking for a pull request
// (gitConfig.pullRequest, branch BASE:TARGET) opens one on a real Gitea,
// from the target branch, with the kustomization written there.
func TestArgoCDPullRequestGitea(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Gitea")
	}
	g := testenv.StartGitea(t) // skips without the binary, unless CI=true
	cloneURL := g.CreateRepo(t, "fleet")
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	d := reg.PushImage(t, "apps/web", "1.0.0", testenv.ImageOptions{})
	reg.Tag(t, "apps/web", d, "1.1.0")
	kustomization := "resources: [deploy.yaml]\nimages:\n- name: web\n  newName: " + reg.Host + "/apps/web\n  newTag: 1.0.0\n"
	g.API(t, "POST", "repos/"+g.AdminUser+"/fleet/contents/apps/web/kustomization.yaml", map[string]any{
		"content": base64.StdEncoding.EncodeToString([]byte(kustomization)), "message": "add web", "branch": "main",
	}, nil)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	secrets := filepath.Join(dir, "secrets")
	writeFile(t, filepath.Join(secrets, "gitea", "username"), g.AdminUser)
	writeFile(t, filepath.Join(secrets, "gitea", "password"), g.Token)
	writeFile(t, cfg, `apiVersion: argocd-image-updater.argoproj.io/v1alpha1
kind: ImageUpdater
metadata: {name: web, namespace: argocd}
spec:
  writeBackConfig:
    method: git:secret:argocd/gitea
    gitConfig:
      branch: main:image-updater-{{ .AppName }}
      writeBackTarget: kustomization
      pullRequest: {gitea: {}, labels: [images]}
  applicationRefs:
  - namePattern: web
  images:
  - alias: web
    imageName: `+reg.Host+`/apps/web:1.x
    manifestTargets: {kustomize: {name: web}}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web, namespace: argocd}
spec:
  source: {repoURL: `+cloneURL+`, targetRevision: main, path: apps/web}
`)
	env := []string{"HOIST_STATE_DIR=" + filepath.Join(dir, "state"), "HOIST_SECRETS_DIR=" + secrets}
	r := hoist(t, env, "run", "--once", "-c", cfg, "-o", "json")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var out struct {
		Automations []struct {
			Pushed      bool
			Branch      string
			PullRequest string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(out.Automations) != 1 || !out.Automations[0].Pushed || out.Automations[0].Branch != "image-updater-web" || out.Automations[0].PullRequest == "" {
		t.Fatalf("run: %s", r.stdout)
	}
	var prs []struct {
		Title  string
		Head   struct{ Ref string }
		Base   struct{ Ref string }
		Labels []struct{ Name string }
	}
	g.API(t, "GET", "repos/"+g.AdminUser+"/fleet/pulls?state=open", nil, &prs)
	if len(prs) != 1 || prs[0].Head.Ref != "image-updater-web" || prs[0].Base.Ref != "main" || len(prs[0].Labels) != 1 || prs[0].Labels[0].Name != "images" {
		t.Fatalf("open pull requests: %+v", prs)
	}
	var file struct{ Content string }
	g.API(t, "GET", "repos/"+g.AdminUser+"/fleet/contents/apps/web/kustomization.yaml?ref=image-updater-web", nil, &file)
	got, _ := base64.StdEncoding.DecodeString(file.Content)
	if want := strings.Replace(kustomization, "newTag: 1.0.0", "newTag: 1.1.0", 1); string(got) != want {
		t.Errorf("kustomization on the pull request's branch:\n%s\nwant:\n%s", got, want)
	}
}
