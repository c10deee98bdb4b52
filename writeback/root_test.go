package writeback

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestResolveIn resolves update paths inside a clone: links that stay in
// it are followed, a path or a parent that is a link leading out of it is
// refused with ErrOutsideRoot naming the link.
func TestResolveIn(t *testing.T) {
	tmp := t.TempDir()
	clone := filepath.Join(tmp, "clone")
	outside := filepath.Join(tmp, "outside")
	for _, d := range []string{"apps", "clusters/prod", "outside-ish"} {
		if err := os.MkdirAll(filepath.Join(clone, filepath.FromSlash(d)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(clone, "file.yaml"), []byte("a: b\n"))
	links := map[string]string{
		"current":            "apps",                        // inside
		"env":                "clusters",                    // inside, a parent
		"abs-inside":         filepath.Join(clone, "apps"),  // absolute, inside
		"up":                 "clusters/prod/../../apps",    // inside, through ..
		"escape":             "../outside",                  // relative, outside
		"deep":               "../../../../../../../../srv", // relative, far outside
		"abs-out":            outside,                       // absolute, outside
		"chain":              "escape",                      // a link to a link that leaves
		"loop":               "loop",
		"clusters/prod/back": "../../../outside", // a nested link that leaves
	}
	for link, target := range links {
		if err := os.Symlink(target, filepath.Join(clone, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	real, err := filepath.EvalSymlinks(clone)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		rel  string
		want string // slash path relative to the clone
		is   error
		name string // the path the error names
	}{
		"the clone":                 {rel: ".", want: "."},
		"empty":                     {rel: "", want: "."},
		"a directory":               {rel: "./apps", want: "apps"},
		"a trailing slash":          {rel: "apps/", want: "apps"},
		"leading dots stay inside":  {rel: "../../apps", want: "apps"},
		"a nested directory":        {rel: "clusters/prod", want: "clusters/prod"},
		"a link inside":             {rel: "current", want: "apps"},
		"a parent link inside":      {rel: "env/prod", want: "clusters/prod"},
		"an absolute link inside":   {rel: "abs-inside", want: "apps"},
		"a link through dot-dot":    {rel: "up", want: "apps"},
		"a link leaving":            {rel: "./escape", is: ErrOutsideRoot, name: "escape"},
		"a link leaving far":        {rel: "deep", is: ErrOutsideRoot, name: "deep"},
		"an absolute link leaving":  {rel: "abs-out", is: ErrOutsideRoot, name: "abs-out"},
		"a parent link leaving":     {rel: "escape/sub", is: ErrOutsideRoot, name: "escape"},
		"a chain leaving":           {rel: "chain", is: ErrOutsideRoot, name: "escape"},
		"a nested link leaving":     {rel: "env/prod/back", is: ErrOutsideRoot, name: "clusters/prod/back"},
		"a loop":                    {rel: "loop", name: "loop"},
		"missing":                   {rel: "nope", is: fs.ErrNotExist, name: "nope"},
		"a file is not a directory": {rel: "file.yaml/x", name: "file.yaml"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, in, err := ResolveIn(clone, tc.rel)
			if tc.name != "" {
				if err == nil {
					t.Fatalf("ResolveIn(%q) = %q, want an error", tc.rel, got)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("error %v is not %v", err, tc.is)
				}
				if !strings.Contains(err.Error(), tc.name) {
					t.Errorf("error %q does not name %q", err, tc.name)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if in != tc.want {
				t.Errorf("relative path %q, want %q", in, tc.want)
			}
			if diff := cmp.Diff(filepath.Join(real, filepath.FromSlash(tc.want)), got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
