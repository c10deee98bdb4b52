package policy

import (
	"fmt"
	"slices"
	"strings"
)

// ParseShorthand parses the short policy forms used in workload annotations
// (see docs/markers-and-annotations.md) into a Spec:
//
//	semver:RANGE            semver within RANGE (two-part tags allowed)
//	glob:PATTERN            glob filter, newest build first (as Flux v1 and Keel did)
//	regex:RE, regexp:RE     pattern filter, newest build first
//	alphabetical[:asc|desc] alphabetical order
//	numerical[:asc|desc]    numerical order
//	newest-build            newest build of all tags
//	digest[:TAG]            follow TAG's digest (default: the current tag)
//
// and Keel's keel.sh/policy values, relative to current, the tag in Git:
//
//	all    any newer version, pre-releases included   (>= current, pre-releases)
//	major  any newer release                          (>= current)
//	minor  newer releases of the same major           (>= current, < next major)
//	patch  newer releases of the same minor           (>= current, < next minor)
//	force  follow the current tag's digest            (same as digest:current)
//
// The Keel forms need a current tag that is a version; errors wrap
// ErrInvalidPolicy.
func ParseShorthand(s, current string) (Spec, error) {
	kind, arg, hasArg := strings.Cut(strings.TrimSpace(s), ":")
	kind = strings.ToLower(kind)
	var spec Spec
	bad := func(format string, a ...any) (Spec, error) {
		return Spec{}, fmt.Errorf("%w: shorthand %q: %s", ErrInvalidPolicy, s, fmt.Sprintf(format, a...))
	}
	switch kind {
	case "semver":
		if arg == "" {
			return bad("semver needs a range, as in semver:~1.2")
		}
		spec.Semver = &SemverSpec{Range: arg}
	case "glob":
		if arg == "" {
			return bad("glob needs a pattern, as in glob:1.2.*")
		}
		spec.Glob = arg
		spec.NewestBuild = &NewestBuildSpec{}
	case "regex", "regexp":
		if arg == "" {
			return bad("%s needs a pattern, as in regex:^main-", kind)
		}
		spec.Pattern = arg
		spec.NewestBuild = &NewestBuildSpec{}
	case "alphabetical", "numerical":
		o := &OrderSpec{Order: Order(strings.ToLower(arg))}
		if hasArg && o.Order != Ascending && o.Order != Descending {
			return bad("order %q: want asc or desc", arg)
		}
		if kind == "alphabetical" {
			spec.Alphabetical = o
		} else {
			spec.Numerical = o
		}
	case "newest-build", "newestbuild":
		if hasArg {
			return bad("newest-build takes no argument")
		}
		spec.NewestBuild = &NewestBuildSpec{}
	case "digest":
		tag := arg
		if tag == "" {
			tag = current
		}
		if tag == "" {
			return bad("digest needs a tag to follow, and the current image has none")
		}
		spec.Digest = &DigestSpec{Tag: tag}
	case "force":
		if current == "" {
			return bad("force needs a current tag to follow")
		}
		spec.Digest = &DigestSpec{Tag: current}
	case "all", "major", "minor", "patch":
		if hasArg {
			return bad("%s takes no argument", kind)
		}
		v, ok := parseVersion(current)
		if !ok {
			return bad("the current tag %q is not a semantic version", current)
		}
		base := fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch)
		if v.pre != "" {
			base += "-" + v.pre
		}
		var r string
		switch kind {
		case "all":
			r = ">=" + base
			if v.pre == "" {
				r += "-0"
			}
		case "major":
			r = ">=" + base
		case "minor":
			r = fmt.Sprintf(">=%s <%d.0.0", base, v.major+1)
		case "patch":
			r = fmt.Sprintf(">=%s <%d.%d.0", base, v.major, v.minor+1)
		}
		spec.Semver = &SemverSpec{Range: r}
	case "":
		return bad("empty policy")
	default:
		return bad("unknown kind %q (want semver, glob, regex, alphabetical, numerical, newest-build, digest, or Keel's all, major, minor, patch, force)", kind)
	}
	spec.Exclude = slices.Clone(DefaultExclusionList)
	if _, err := Compile(spec); err != nil {
		return Spec{}, fmt.Errorf("shorthand %q: %w", s, err)
	}
	return spec, nil
}
