package pullrequest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/hoist-dev/hoist/writeback/git"
	"github.com/hoist-dev/hoist/writeback/pullrequest"
)

// Open, or update, the pull request of hoist's push branch after a push.
func ExampleNew() {
	auth, err := git.AuthFromSecretDir("/var/lib/hoist/secrets/fleet-git")
	if err != nil {
		log.Fatal(err)
	}
	p, err := pullrequest.New(pullrequest.Options{
		RepoURL: "https://github.com/acme/fleet.git", // github.com: the kind is known
		Token:   pullrequest.TokenFromAuth(auth),
	})
	if err != nil {
		log.Fatal(err)
	}
	pr, err := p.EnsurePullRequest(context.Background(), pullrequest.Request{
		Head:   "hoist/prod",
		Base:   "main",
		Title:  "Update 1 image reference (apps/prod)",
		Body:   "- ghcr.io/acme/app:1.0.0 → ghcr.io/acme/app:1.1.0",
		Labels: []string{"automation"},
		// An open pull request without this line in its body, a
		// person's, is left as it is (pr.LeftAlone).
		Marker: pullrequest.Marker("apps", "prod"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(pr.URL, pr.Created, pr.LeftAlone)
}

// The hidden line that marks the pull requests of an automation as hoist's.
func ExampleMarker() {
	fmt.Println(pullrequest.Marker("apps", "prod"))
	// Output: <!-- hoist: automation apps/prod -->
}

func ExampleKindFromHost() {
	fmt.Println(pullrequest.KindFromHost("github.com"), pullrequest.KindFromHost("gitlab.com"), pullrequest.KindFromHost("git.example.com") == "")
	// Output: github gitlab true
}
