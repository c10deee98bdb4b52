package automation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/hoist-dev/hoist/automation/state"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/writeback"
)

// ArgoApplications reads and writes Argo CD Applications through the
// Kubernetes API: the argocd write-back method. The controller gives the
// Runner one; without it the method fails.
type ArgoApplications interface {
	// UpdateApplication reads the Application NAMESPACE/NAME and calls
	// edit with its object (as JSON decodes it). When edit reports a
	// change, it writes the object back only if nobody wrote it since it
	// was read (its resourceVersion); on such a conflict it reads it again
	// and calls edit again. An edit error is returned as it is.
	UpdateApplication(ctx context.Context, namespace, name string, edit func(app map[string]any) (changed bool, err error)) error
}

// ErrArgoCDMethod says that an Application written with the argocd method
// has no ArgoApplications to patch it through (hoist run, the service).
var ErrArgoCDMethod = errors.New("write-back method argocd patches the Application through the Kubernetes API, which only hoist controller does")

// runArgoAPI runs an automation converted from an Argo CD Application
// with the argocd write-back method: select each image's reference (known
// ones as they are, the others scanned), then set the Helm parameters or
// Kustomize images of the Application's source in its spec, through
// Applications. There is no Git repository: Commit and Branch stay empty,
// Pushed is false, and Changes name the fields of the spec.
func (r *Runner) runArgoAPI(ctx context.Context, set *config.Set, a *config.Automation, known Known, res RunResult, log *slog.Logger) RunResult {
	ac := a.ArgoCD
	if r.Applications == nil {
		return res.fail(ErrArgoCDMethod)
	}
	policies, err := set.PoliciesFor(a)
	if err != nil {
		return res.fail(err)
	}
	pins := map[string]string{}
	if known != nil {
		for _, p := range policies {
			if ref, ok := known(p); ok {
				pins[p.Namespace+":"+p.Name] = ref
			}
		}
	}
	app := ac.AppNamespace + "/" + ac.App
	field := argoSourceField(ac)
	sel := map[string]string{}
	_, res.Errors = r.argoSelect(ctx, "Application "+app+" "+field, policies, pins, sel)
	err = r.Applications.UpdateApplication(ctx, ac.AppNamespace, ac.App, func(obj map[string]any) (bool, error) {
		res.Attempts++
		changes, err := r.argoPatch(obj, ac, policies, sel)
		if err != nil {
			return false, err
		}
		res.Changes = changes
		return len(changes) > 0 && !r.DryRun, nil
	})
	res.NothingToDo, res.DryRun = len(res.Changes) == 0, r.DryRun
	if err != nil {
		return res.fail(fmt.Errorf("write-back method argocd, Application %s: %w", app, err))
	}
	if len(res.Changes) > 0 && !r.DryRun {
		log.Info("Application patched", "application", app, "field", field, "changes", len(res.Changes), "attempts", res.Attempts)
	}
	r.recordRun(res, state.RunRecord{}, true, log)
	return res
}

// argoSourceField is the field of the Application's source that the
// argocd method patches.
func argoSourceField(ac *config.ArgoCD) string {
	if ac.SourceIndex >= 0 {
		return fmt.Sprintf("spec.sources[%d]", ac.SourceIndex)
	}
	return "spec.source"
}

// argoPatch sets, in the Application obj (as JSON decodes it), the Helm
// parameters (spec.source.helm.parameters, each {name, value,
// forceString}) or Kustomize images (spec.source.kustomize.images, each
// [NAME=]IMAGE:TAG) of its images to their selections in sel, as Image
// Updater's argocd method does, and returns the changes. Only images the
// Application runs are set, when it has a status (see argoLive). It plans
// with writeback.PlanArgo on the source's YAML, so the values are those of
// .argocd-source files.
func (r *Runner) argoPatch(obj map[string]any, ac *config.ArgoCD, policies []*config.Policy, sel map[string]string) ([]writeback.Change, error) {
	field := argoSourceField(ac)
	spec, _ := obj["spec"].(map[string]any)
	var src map[string]any
	if ac.SourceIndex >= 0 {
		sources, _ := spec["sources"].([]any)
		if ac.SourceIndex < len(sources) {
			src, _ = sources[ac.SourceIndex].(map[string]any)
		}
	} else {
		src, _ = spec["source"].(map[string]any)
	}
	if src == nil {
		return nil, fmt.Errorf("%s: the Application has no such source", field)
	}
	status, hasStatus := obj["status"].(map[string]any)
	typ := ac.Type
	if typ == "" {
		// The type Argo CD detected, from the live object.
		if ac.SourceIndex >= 0 {
			types, _ := status["sourceTypes"].([]any)
			if ac.SourceIndex < len(types) {
				t, _ := types[ac.SourceIndex].(string)
				typ = strings.ToLower(t)
			}
		} else {
			t, _ := status["sourceType"].(string)
			typ = strings.ToLower(t)
		}
	}
	var (
		key  string
		kind writeback.ArgoFile
	)
	switch typ {
	case config.ArgoTypeHelm:
		key, kind = "helm", writeback.ArgoSourceHelm
	case config.ArgoTypeKustomize:
		key, kind = "kustomize", writeback.ArgoSourceKustomize
	case "":
		return nil, fmt.Errorf("%s: its type is not known yet (Argo CD reports it in status.sourceType once it read the source): name helm or kustomize in the source", field)
	default:
		return nil, fmt.Errorf("%s: a source of type %s has no Helm parameters or Kustomize images to patch: use the git write-back method", field, typ)
	}
	var running []string
	if summary, ok := status["summary"].(map[string]any); ok {
		list, _ := summary["images"].([]any)
		for _, v := range list {
			if s, ok := v.(string); ok {
				running = append(running, s)
			}
		}
	}
	images := r.argoLive(ac, hasStatus, running)
	data := []byte{}
	if v, ok := src[key]; ok && v != nil {
		b, err := yaml.Marshal(map[string]any{key: v})
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", field, key, err)
		}
		data = b
	}
	plan, changes, err := r.argoPlan(field, data, kind, images, policies, sel)
	if err != nil || len(changes) == 0 {
		return nil, err
	}
	var out map[string]any
	if err := yaml.Unmarshal(plan.New, &out); err != nil {
		return nil, fmt.Errorf("%s.%s: reading the values planned: %w", field, key, err)
	}
	v := out[key]
	if m, ok := v.(map[string]any); ok && key == "helm" {
		// .argocd-source files spell it forcestring; the API forceString.
		params, _ := m["parameters"].([]any)
		for _, p := range params {
			if pm, ok := p.(map[string]any); ok {
				if fs, ok := pm["forcestring"]; ok {
					delete(pm, "forcestring")
					pm["forceString"] = fs
				}
			}
		}
	}
	src[key] = v
	for i := range changes {
		changes[i].File = field
		changes[i].Field = field + "." + changes[i].Field
	}
	return changes, nil
}
