package config

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseArgoAnnotations(t *testing.T) {
	p := ArgoAnnotationPrefix
	type image struct {
		Alias, Image, Constraint, Strategy, AllowTags, IgnoreTags, HelmName, HelmTag, KustomizeName string
	}
	cases := map[string]struct {
		ann    map[string]string
		want   []image
		method string
		probs  []string
	}{
		"none": {ann: map[string]string{"other/annotation": "x"}},
		"aliases, constraints, a registry port": {
			ann: map[string]string{
				p + "image-list":                " web=localhost:5000/web:~1.2 ,, side=ghcr.io/a/side:1.x ,ghcr.io/a/plain ",
				p + "update-strategy":           "latest",
				p + "web.update-strategy":       "semver",
				p + "allow-tags":                "regexp:^v",
				p + "side.ignore-tags":          "*-rc*",
				p + "web.helm.image-name":       "app.image.repository",
				p + "web.helm.image-tag":        "app.image.tag",
				p + "side.kustomize.image-name": "side",
				p + "write-back-method":         "git",
			},
			want: []image{
				{Alias: "web", Image: "localhost:5000/web", Constraint: "~1.2", Strategy: "semver", AllowTags: "regexp:^v", HelmName: "app.image.repository", HelmTag: "app.image.tag"},
				{Alias: "side", Image: "ghcr.io/a/side", Constraint: "1.x", Strategy: "latest", AllowTags: "regexp:^v", IgnoreTags: "*-rc*", KustomizeName: "side"},
				{Image: "ghcr.io/a/plain", Strategy: "latest", AllowTags: "regexp:^v"},
			},
			method: "git",
		},
		"digest dropped": {
			ann:  map[string]string{p + "image-list": "a=ghcr.io/a/b:1.0@sha256:abc"},
			want: []image{{Alias: "a", Image: "ghcr.io/a/b", Constraint: "1.0"}},
		},
		"problems": {
			ann: map[string]string{
				p + "image-list":        "bad alias=x, =, a=ghcr.io/a, a=ghcr.io/b",
				p + "b.update-strategy": "semver",
			},
			want: []image{{Alias: "a", Image: "ghcr.io/a"}},
			probs: []string{
				`metadata.annotations["argocd-image-updater.argoproj.io/image-list"]: alias "bad alias" in "bad alias=x": want letters, digits, '-' and '_'`,
				`metadata.annotations["argocd-image-updater.argoproj.io/image-list"]: alias "" in "=": want letters, digits, '-' and '_'`,
				`metadata.annotations["argocd-image-updater.argoproj.io/image-list"]: "a" is listed twice`,
				`metadata.annotations["argocd-image-updater.argoproj.io/b.update-strategy"]: alias "b" is not in image-list`,
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			images, wb, probs := parseArgoAnnotations(tc.ann)
			var got []image
			for _, im := range images {
				got = append(got, image{im.alias, im.image, im.constraint, im.strategy.value, im.allowTags.value, im.ignoreTags.value,
					im.helmName.value, im.helmTag.value, im.kustomizeName.value})
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("images (-want +got):\n%s", diff)
			}
			if wb.method.value != tc.method {
				t.Errorf("method %q, want %q", wb.method.value, tc.method)
			}
			var gotProbs []string
			for _, pr := range probs {
				gotProbs = append(gotProbs, pr.field+": "+pr.err.Error())
			}
			if diff := cmp.Diff(tc.probs, gotProbs); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGlobToRegexp(t *testing.T) {
	cases := []struct {
		glob  string
		match []string
		not   []string
	}{
		{"*-rc*", []string{"1.0-rc1", "-rc"}, []string{"1.0", "rc1"}},
		{"v1.?", []string{"v1.2"}, []string{"v1.22", "v1x2"}},
		{"[0-9]*", []string{"1abc"}, []string{"abc"}},
		{"[!0-9]*", []string{"abc"}, []string{"1abc"}},
		{"a+b(c)", []string{"a+b(c)"}, []string{"aab(c)", "a+bc"}},
	}
	for _, tc := range cases {
		t.Run(tc.glob, func(t *testing.T) {
			re, err := globToRegexp(tc.glob)
			if err != nil {
				t.Fatal(err)
			}
			r := regexp.MustCompile(re)
			for _, s := range tc.match {
				if !r.MatchString(s) {
					t.Errorf("%q (%s) does not match %q", tc.glob, re, s)
				}
			}
			for _, s := range tc.not {
				if r.MatchString(s) {
					t.Errorf("%q (%s) matches %q", tc.glob, re, s)
				}
			}
		})
	}
	if _, err := globToRegexp("[a"); err == nil {
		t.Error("an unclosed class is accepted")
	}
}

// FuzzArgoAnnotations checks that the annotation parser never panics, that
// every image it returns names a repository without tag, and that every
// problem names an annotation.
func FuzzArgoAnnotations(f *testing.F) {
	f.Add("web=ghcr.io/a/web:~1.2, b=localhost:5000/b", "regexp:^v1", "*-rc*", "pullsecret:ns/n")
	f.Add("=,,a=", "regexp:(", "[", "ext:/bin/x")
	f.Add("a=b:c@d:e=f", "any", "", "secret:ns/n#f")
	f.Fuzz(func(t *testing.T, list, allow, ignore, secret string) {
		p := ArgoAnnotationPrefix
		ann := map[string]string{p + "image-list": list, p + "allow-tags": allow, p + "ignore-tags": ignore, p + "pull-secret": secret}
		images, _, probs := parseArgoAnnotations(ann)
		for _, im := range images {
			if im.image == "" || strings.Contains(im.image[strings.LastIndex(im.image, "/")+1:], ":") {
				t.Fatalf("image %q of %q keeps a tag", im.image, list)
			}
			if _, err := parseAllowTags(im.allowTags.value); err == nil && strings.HasPrefix(im.allowTags.value, "regexp:") {
				regexp.MustCompile(strings.TrimPrefix(im.allowTags.value, "regexp:"))
			}
			for _, g := range splitList(im.ignoreTags.value) {
				if re, err := globToRegexp(g); err == nil {
					regexp.MustCompile(re)
				}
			}
			_, _ = parseArgoPullSecret(im.pullSecret.value)
		}
		for _, pr := range probs {
			if !strings.HasPrefix(pr.field, "metadata.annotations[") || pr.err == nil {
				t.Fatalf("problem without annotation: %+v", pr)
			}
		}
	})
}
