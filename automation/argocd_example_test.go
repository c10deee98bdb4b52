package automation_test

import (
	"fmt"

	"github.com/hoist-dev/hoist/automation"
)

// Argo CD Image Updater names an image without its registry, and without
// Docker Hub's library/ (the .Name of its branch templates).
func ExampleArgoImageName() {
	for _, image := range []string{"ghcr.io/acme/web", "docker.io/library/nginx", "127.0.0.1:5000/apps/web"} {
		fmt.Println(automation.ArgoImageName(image))
	}
	// Output:
	// acme/web
	// nginx
	// apps/web
}
