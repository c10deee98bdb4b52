package config

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/hoist-dev/hoist/config/v1alpha1"
)

// ArgoAnnotationPrefix is the prefix of Argo CD Image Updater's annotations
// on Applications.
const ArgoAnnotationPrefix = "argocd-image-updater.argoproj.io/"

// argoSetting is one setting of an image, with the document field it was
// read from (for errors), "" when it is a default.
type argoSetting struct {
	value string
	field string
}

func (s argoSetting) set() bool { return s.field != "" }

// argoImage is one image an Application follows, its settings merged with
// Image Updater's precedence (image over application over global).
type argoImage struct {
	alias      string
	image      string // repository, without tag
	constraint string
	field      string // where the image was named

	strategy, allowTags, ignoreTags, pullSecret, platforms, force argoSetting
	helmName, helmTag, helmSpec, kustomizeName                    argoSetting
	// verify comes from the ImageUpdater's imagesVerification.
	verify *v1alpha1.ImageVerification
}

// argoWriteBack is how an Application's updates reach Git.
type argoWriteBack struct {
	method, target, branch, repository argoSetting
	pullRequest                        *argoPullRequest
}

type argoPullRequest struct {
	provider string
	labels   []string
	field    string
}

// argoProblem is a problem of one annotation (or field).
type argoProblem struct {
	field string
	err   error
}

var argoAlias = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// annotationField is the path of an annotation in an Application's
// document, as the decoder records it.
func annotationField(key string) string {
	return mapKeyPath("metadata.annotations", key)
}

// parseArgoAnnotations reads Image Updater's annotations of one Application:
// its images (image-list) with their per-alias and application-wide
// settings, and its write-back settings. It is pure. An Application without
// image-list has no images.
func parseArgoAnnotations(ann map[string]string) ([]argoImage, argoWriteBack, []argoProblem) {
	var probs []argoProblem
	get := func(key string) argoSetting {
		k := ArgoAnnotationPrefix + key
		if v, ok := ann[k]; ok {
			return argoSetting{value: strings.TrimSpace(v), field: annotationField(k)}
		}
		return argoSetting{}
	}
	wb := argoWriteBack{
		method:     get("write-back-method"),
		target:     get("write-back-target"),
		branch:     get("git-branch"),
		repository: get("git-repository"),
	}
	list := get("image-list")
	if !list.set() || list.value == "" {
		return nil, wb, nil
	}
	app := map[string]argoSetting{}
	for _, s := range []string{"update-strategy", "allow-tags", "ignore-tags", "pull-secret", "platforms", "force-update"} {
		app[s] = get(s)
	}
	var images []argoImage
	seen := map[string]bool{}
	for _, entry := range strings.Split(list.value, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		alias, img, hasAlias := strings.Cut(entry, "=")
		if !hasAlias {
			img, alias = alias, ""
		}
		image, constraint := splitImageConstraint(strings.TrimSpace(img))
		alias = strings.TrimSpace(alias)
		if hasAlias && !argoAlias.MatchString(alias) {
			probs = append(probs, argoProblem{list.field, fmt.Errorf("alias %q in %q: want letters, digits, '-' and '_'", alias, entry)})
			continue
		}
		if image == "" {
			probs = append(probs, argoProblem{list.field, fmt.Errorf("%q names no image", entry)})
			continue
		}
		if strings.Contains(image[strings.LastIndex(image, "/")+1:], ":") {
			probs = append(probs, argoProblem{list.field, fmt.Errorf("%q: want IMAGE[:CONSTRAINT], with one colon after the image's last slash", entry)})
			continue
		}
		im := argoImage{alias: alias, image: image, constraint: constraint, field: list.field}
		key := alias
		if key == "" {
			key = image
		}
		if seen[key] {
			probs = append(probs, argoProblem{list.field, fmt.Errorf("%q is listed twice", key)})
			continue
		}
		seen[key] = true
		pick := func(name string) argoSetting {
			if alias != "" {
				if s := get(alias + "." + name); s.set() {
					return s
				}
			}
			return app[name]
		}
		im.strategy = pick("update-strategy")
		im.allowTags = pick("allow-tags")
		im.ignoreTags = pick("ignore-tags")
		im.pullSecret = pick("pull-secret")
		im.platforms = pick("platforms")
		im.force = pick("force-update")
		if alias != "" {
			im.helmName = get(alias + ".helm.image-name")
			im.helmTag = get(alias + ".helm.image-tag")
			im.helmSpec = get(alias + ".helm.image-spec")
			im.kustomizeName = get(alias + ".kustomize.image-name")
		}
		images = append(images, im)
	}
	// Annotations of aliases that are not listed are most likely typos.
	var unknown []string
	for k := range ann {
		rest, ok := strings.CutPrefix(k, ArgoAnnotationPrefix)
		if !ok {
			continue
		}
		alias, setting, ok := strings.Cut(rest, ".")
		if !ok || seen[alias] || !argoAliasSetting(setting) {
			continue
		}
		unknown = append(unknown, k)
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		alias, _, _ := strings.Cut(strings.TrimPrefix(k, ArgoAnnotationPrefix), ".")
		probs = append(probs, argoProblem{annotationField(k), fmt.Errorf("alias %q is not in image-list", alias)})
	}
	return images, wb, probs
}

// argoAliasSetting reports a per-alias setting of Image Updater.
func argoAliasSetting(s string) bool {
	switch s {
	case "update-strategy", "allow-tags", "ignore-tags", "pull-secret", "platforms", "force-update",
		"helm.image-name", "helm.image-tag", "helm.image-spec", "kustomize.image-name":
		return true
	}
	return false
}

// splitImageConstraint splits "IMAGE[:CONSTRAINT]" at the last colon after
// the last slash, so that a registry's port stays in the image. A digest
// (@sha256:...) is dropped: Image Updater ignores it too.
func splitImageConstraint(s string) (image, constraint string) {
	s, _, _ = strings.Cut(s, "@")
	slash := strings.LastIndex(s, "/")
	if i := strings.LastIndex(s, ":"); i > slash {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// argoRule is an Image Updater strategy as hoist's rule.
type argoRule int

const (
	argoSemver argoRule = iota
	argoNewestBuild
	argoAlphabetical
	argoDigest
)

// parseArgoStrategy reads update-strategy, under its current and old names.
func parseArgoStrategy(s string) (argoRule, error) {
	switch s {
	case "", "semver":
		return argoSemver, nil
	case "newest-build", "latest":
		return argoNewestBuild, nil
	case "alphabetical", "name":
		return argoAlphabetical, nil
	case "digest":
		return argoDigest, nil
	}
	return 0, fmt.Errorf("update strategy %q: want semver, newest-build (or latest), alphabetical (or name) or digest", s)
}

// parseAllowTags reads allow-tags: "regexp:RE" or "any" (or empty). The
// expression must compile: Image Updater silently matches nothing instead.
func parseAllowTags(s string) (string, error) {
	switch {
	case s == "" || s == "any":
		return "", nil
	case strings.HasPrefix(s, "regexp:"):
		re := strings.TrimPrefix(s, "regexp:")
		if _, err := regexp.Compile(re); err != nil {
			return "", fmt.Errorf("allow-tags %q: %w", s, err)
		}
		return re, nil
	}
	return "", fmt.Errorf("allow-tags %q: want regexp:EXPRESSION or any", s)
}

// globToRegexp translates an ignore-tags glob (* any run, ? one character,
// [...] a class) into an anchored regular expression.
func globToRegexp(g string) (string, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(g); i++ {
		switch c := g[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			j := strings.IndexByte(g[i+1:], ']')
			if j < 0 {
				return "", fmt.Errorf("glob %q: unclosed [", g)
			}
			class := g[i+1 : i+1+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += j + 1
		case '\\':
			if i+1 < len(g) {
				i++
				b.WriteString(regexp.QuoteMeta(g[i : i+1]))
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re := b.String()
	if _, err := regexp.Compile(re); err != nil {
		return "", fmt.Errorf("glob %q: %w", g, err)
	}
	return re, nil
}

// splitList reads a comma-separated list, items trimmed, empty ones dropped.
func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// argoPullSecret is a pull-secret in Image Updater's forms.
type argoPullSecret struct {
	kind      string // "pullsecret", "secret", "env" or "ext"
	namespace string
	name      string
	field     string // of "secret"
	env       string // of "env"
	script    string // of "ext": an absolute path
}

// ErrExtCredentials refuses Image Updater's ext: credentials, a script
// named by a document, when hoist was not told to run them
// (--allow-argocd-ext-credentials).
var ErrExtCredentials = errors.New("ext: credential scripts run a program named by the document; hoist runs them only with --allow-argocd-ext-credentials (else use pullsecret, secret or env)")

func parseArgoPullSecret(s string) (argoPullSecret, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return argoPullSecret{}, fmt.Errorf("pull secret %q: want pullsecret:NS/NAME, secret:NS/NAME#FIELD, env:VAR or ext:PATH", s)
	}
	switch kind {
	case "pullsecret", "secret":
		ref := rest
		var field string
		if kind == "secret" {
			var found bool
			ref, field, found = strings.Cut(rest, "#")
			if !found || field == "" {
				return argoPullSecret{}, fmt.Errorf("pull secret %q: want secret:NS/NAME#FIELD", s)
			}
		}
		ns, name, found := strings.Cut(ref, "/")
		if !found || ns == "" || name == "" {
			return argoPullSecret{}, fmt.Errorf("pull secret %q: want %s:NAMESPACE/NAME", s, kind)
		}
		return argoPullSecret{kind: kind, namespace: ns, name: name, field: field}, nil
	case "env":
		if rest == "" {
			return argoPullSecret{}, fmt.Errorf("pull secret %q: want env:VARIABLE", s)
		}
		return argoPullSecret{kind: kind, env: rest}, nil
	case "ext":
		if !path.IsAbs(rest) || path.Clean(rest) != rest {
			return argoPullSecret{}, fmt.Errorf("pull secret %q: want ext:/ABSOLUTE/PATH of the script", s)
		}
		return argoPullSecret{kind: kind, script: rest}, nil
	}
	return argoPullSecret{}, fmt.Errorf("pull secret %q: unknown form %q; want pullsecret, secret, env or ext", s, kind)
}
