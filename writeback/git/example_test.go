package git_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/hoist-dev/hoist/writeback"
	"github.com/hoist-dev/hoist/writeback/git"
)

// Sync a checkout, let an edit function rewrite files, and push the commit,
// re-planning if another writer pushes first.
func ExampleSync() {
	ctx := context.Background()
	auth, err := git.AuthFromSecretDir("/var/lib/hoist/secrets/fleet-git")
	if err != nil {
		log.Fatal(err)
	}
	co, err := git.Sync(ctx, git.SyncOptions{
		URL:      "https://git.example.com/org/fleet.git",
		Branch:   "main",
		CacheDir: "/var/lib/hoist/git",
		Auth:     auth,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer co.Close()

	edit := func(ctx context.Context, dir string) ([]writeback.Change, error) {
		// Plan and write the manifest edits under dir; return them.
		return nil, nil
	}
	out, err := co.Update(ctx, edit, git.UpdateOptions{
		Commit: git.CommitOptions{Author: git.Signature{Name: "hoist", Email: "hoist@example.com"}},
		Push:   git.PushOptions{Branch: "hoist/prod"},
	})
	switch {
	case errors.Is(err, git.ErrBranchNotOwned):
		log.Fatal("someone else committed to hoist's branch: ", err)
	case err != nil:
		log.Fatal(err)
	case out.NothingToDo:
		fmt.Println("nothing to do")
	default:
		fmt.Printf("pushed %s to %s\n", out.Commit, out.Branch)
	}
}

// A service keeps one Clones for all its runs: a run after the first finds
// the clone open, its packfiles indexed, unless they changed meanwhile.
func ExampleClones() {
	ctx := context.Background()
	clones := &git.Clones{Max: 64}
	for range 3 { // three runs of one automation
		co, err := git.Sync(ctx, git.SyncOptions{
			URL:      "https://git.example.com/org/fleet.git",
			Branch:   "main",
			CacheDir: "/var/lib/hoist/git",
			Clones:   clones,
		})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("at", co.Head())
		co.Close() // keeps the clone open in clones
	}
}

func ExampleRemoteHead() {
	ctx := context.Background()
	last := "4b825dc642cb6eb9a060e54bf8d69288fbee4904" // the commit a run last found
	head, err := git.RemoteHead(ctx, git.SyncOptions{
		URL:    "https://git.example.com/org/fleet.git",
		Branch: "main",
	})
	if err != nil {
		log.Fatal(err)
	}
	if head == last {
		fmt.Println("the branch did not move: nothing to fetch")
	}
}

func ExampleRenderMessage() {
	msg, err := git.RenderMessage(`Update images ({{ .AutomationObject }})

{{ range .Changed.Changes -}}
- {{ .OldValue }} -> {{ .NewValue }} by {{ .Setter }}
{{ end -}}`, git.TemplateData{
		AutomationObject: git.NamespacedName{Namespace: "apps", Name: "prod"},
		Changed: git.NewResult([]writeback.Change{{
			File: "apps/podinfo.yaml", Line: 11,
			Old: "ghcr.io/stefanprodan/podinfo:6.0.0", New: "ghcr.io/stefanprodan/podinfo:6.1.0",
			Setter: "apps:podinfo",
		}}),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(msg)
	// Output:
	// Update images (apps/prod)
	//
	// - ghcr.io/stefanprodan/podinfo:6.0.0 -> ghcr.io/stefanprodan/podinfo:6.1.0 by apps:podinfo
}

func ExampleRenderMessage_default() {
	msg, err := git.RenderMessage("", git.TemplateData{
		Changed: git.NewResult([]writeback.Change{{
			File: "apps/podinfo.yaml", Line: 11,
			Object: writeback.Object{Kind: "Deployment", Namespace: "apps", Name: "podinfo"},
			Old:    "ghcr.io/stefanprodan/podinfo:6.0.0", New: "ghcr.io/stefanprodan/podinfo:6.1.0",
		}}),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(msg)
	// Output:
	// Update 1 image reference
	//
	// - ghcr.io/stefanprodan/podinfo:6.0.0 → ghcr.io/stefanprodan/podinfo:6.1.0 in apps/podinfo.yaml:11 (Deployment apps/podinfo)
}

func ExampleParseRemoteURL() {
	for _, raw := range []string{
		"https://bot:t0ken@github.com/org/fleet.git",
		"git@github.com:org/fleet.git",
	} {
		u, err := git.ParseRemoteURL(raw)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(u.Scheme, u.Hostname(), u.Path, u)
	}
	// Output:
	// https github.com /org/fleet.git https://github.com/org/fleet.git
	// ssh github.com org/fleet.git git@github.com:org/fleet.git
}

func ExampleRedactURLs() {
	fmt.Println(git.RedactURLs(`Get "https://bot:t0ken@github.com/org/fleet.git/info/refs": EOF`))
	// Output:
	// Get "https://REDACTED@github.com/org/fleet.git/info/refs": EOF
}

func ExampleAuthFromSecretDir() {
	// testdata/secrets/basic holds the files username, password and ca.crt.
	auth, err := git.AuthFromSecretDir("testdata/secrets/basic")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(auth) // never prints the secrets
	// Output:
	// Auth{username=hoist-bot password=set ca.crt=set}
}

func ExampleArgoAuthFromSecretDir() {
	// testdata/secrets/argo-ssh is an Argo CD repository Secret: the files
	// sshPrivateKey and known_hosts.
	auth, err := git.ArgoAuthFromSecretDir("testdata/secrets/argo-ssh")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(auth) // never prints the secrets
	// Output:
	// Auth{identity=set known_hosts=set}
}

func ExampleSignerFromSecretDir() {
	// A directory with git.asc (and passphrase), as Flux's signing secret.
	signer, err := git.SignerFromSecretDir(os.Getenv("HOIST_SIGNING_SECRET_DIR"), nil)
	if err != nil {
		log.Fatal(err)
	}
	_ = git.CommitOptions{
		Author: git.Signature{Name: "hoist", Email: "hoist@example.com"},
		Signer: signer,
	}
}

// The SSH setup of the user running hoist, for repositories whose
// GitRepository names no secretRef: ssh-agent's keys, else the first
// default key in ~/.ssh that needs no passphrase, and ~/.ssh/known_hosts.
func ExampleUserSSH() {
	home, err := os.UserHomeDir()
	if err != nil {
		log.Fatal(err)
	}
	auth, err := git.UserSSH(filepath.Join(home, ".ssh"), os.Getenv("SSH_AUTH_SOCK"))
	if err != nil {
		log.Fatal(err)
	}
	co, err := git.Sync(context.Background(), git.SyncOptions{
		URL:      "git@github.com:org/fleet.git",
		Branch:   "main",
		CacheDir: filepath.Join(home, ".local/state/hoist/git"),
		Auth:     auth,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer co.Close()
}
