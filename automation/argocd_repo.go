package automation

import (
	"context"
	"path"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/writeback"
)

// editRepoApplications writes, in the clone at dir, the images of the Argo
// CD Applications read from the automation's update path (in effective,
// with config.ArgoApplicationsAnnotation) whose write-back goes to the
// automation's own repository and branch, and returns out with their
// changes: one commit holds the automation's and theirs. An Application
// that writes elsewhere (another repository or branch, a push branch of
// its own, the argocd method) or a plain directory (written through
// markers, which name policies of the automation) is left to its own
// automation, with a warning on the first attempt.
func (p *planner) editRepoApplications(ctx context.Context, dir string, effective *config.Set, out []writeback.Change) ([]writeback.Change, error) {
	own := GitKey(p.a)
	skip := func(b *config.Automation, why string) {
		if p.attempt == 1 {
			p.log.Warn("Argo CD Application of the repository not written by this automation", "application", b.ArgoCD.AppNamespace+"/"+b.ArgoCD.App, "file", b.Source.File, "reason", why)
		}
	}
	first := true
	for _, b := range effective.Automations {
		if b.ArgoCD == nil || p.set.Automation(b.Namespace, b.Name) != nil {
			continue // not read from the repository
		}
		switch {
		case b.ArgoCD.Method != config.ArgoMethodGit:
			skip(b, "write-back method argocd")
			continue
		case GitKey(b) != own:
			skip(b, "it writes to another repository or branch: "+GitKey(b))
			continue
		case b.Spec.Git != nil && b.Spec.Git.Push != nil:
			skip(b, "it pushes to a branch of its own")
			continue
		}
		policies, err := effective.PoliciesFor(b)
		if err != nil {
			return out, err
		}
		res, handled, err := p.r.argoEdit(ctx, dir, b.ArgoCD, policies, p.pins, !p.r.DryRun)
		if err != nil {
			p.errors = append(p.errors, &writeback.FileError{File: b.Source.File, Err: err})
			continue
		}
		if !handled {
			skip(b, "a plain directory is written through markers naming this automation's policies")
			continue
		}
		if first && len(res.files) > 0 {
			// The files of the automation's update path, from the
			// repository's root as the Application's are.
			for i := range p.files {
				p.files[i].Path = path.Join(p.rel, p.files[i].Path)
			}
			p.rel = ""
			first = false
		}
		p.errors = append(p.errors, res.errs...)
		p.files = append(p.files, res.files...)
		for _, s := range res.selections {
			if s.Err == nil {
				p.pins[s.Key()] = s.Ref
			}
		}
		out = append(out, res.changes...)
	}
	return out, nil
}
