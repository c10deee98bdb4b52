package config

import (
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/policy"
)

// PolicySpec maps an ImagePolicy and its ImageRepository to a policy.Spec,
// ready for policy.Compile. It is the one place where document fields become
// selection rules.
//
// The exclusion list is the repository's; when repo is nil or its
// spec.exclusionList is nil, policy.DefaultExclusionList (an empty, non-nil
// list excludes nothing). flux is true for documents of Flux's groups: their
// semver ranges accept only three-part versions, as Flux does.
func PolicySpec(p *v1alpha1.ImagePolicy, repo *v1alpha1.ImageRepository, flux bool) policy.Spec {
	var s policy.Spec
	if repo != nil && repo.Spec.ExclusionList != nil {
		s.Exclude = append([]string{}, repo.Spec.ExclusionList...)
	} else {
		s.Exclude = append([]string{}, policy.DefaultExclusionList...)
	}
	if f := p.Spec.FilterTags; f != nil {
		s.Pattern = f.Pattern
		s.Extract = f.Extract
		s.Glob = f.Glob
	}
	c := p.Spec.Policy
	if c.SemVer != nil {
		s.Semver = &policy.SemverSpec{Range: c.SemVer.Range, Strict: flux}
	}
	if c.Alphabetical != nil {
		s.Alphabetical = &policy.OrderSpec{Order: policy.Order(c.Alphabetical.Order)}
	}
	if c.Numerical != nil {
		s.Numerical = &policy.OrderSpec{Order: policy.Order(c.Numerical.Order)}
	}
	if c.NewestBuild != nil {
		s.NewestBuild = &policy.NewestBuildSpec{}
	}
	if c.Digest != nil {
		s.Digest = &policy.DigestSpec{Tag: c.Digest.Tag}
	}
	if len(p.Spec.Platforms) > 0 {
		s.Platforms = append([]string{}, p.Spec.Platforms...)
	}
	if p.Spec.MinAge != nil {
		s.MinAge = p.Spec.MinAge.Duration
	}
	s.Verify = p.Spec.Verify != nil
	return s
}
