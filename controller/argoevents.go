package controller

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
)

// ReasonImagesUpdated (event on an Application): the Application's images
// were written, Image Updater's reason, with its note and annotations.
const ReasonImagesUpdated = "ImagesUpdated"

// argoEvents are the Kubernetes events on Argo CD's objects: the
// Applications whose images hoist writes have no status of hoist's, so
// what hoist's objects say in theirs is said in events on them, as Image
// Updater does with its kube events on (ImagesUpdated). Like the events
// of hoist's objects, each is emitted on news only: a new selection, a
// write, a failure that starts or whose message changes; what was last
// said is kept in memory (after a restart, a failure still there is said
// once more, a selection already made is not).
type argoEvents struct {
	mu sync.Mutex
	// sels is the reference each policy of an Application selected last.
	sels map[string]string
	// said is the last warning about each object, by object and source
	// (a policy, the run, the configuration).
	said map[argoEventKey]string
	// pushed is the last commit pushed of each Application.
	pushed map[objectKey]string
}

type argoEventKey struct {
	obj    objectKey
	source string
}

func newArgoEvents() *argoEvents {
	return &argoEvents{sels: map[string]string{}, said: map[argoEventKey]string{}, pushed: map[objectKey]string{}}
}

// warn reports whether msg is news for obj's source ("" clears it).
func (e *argoEvents) warn(obj objectKey, source, msg string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := argoEventKey{obj, source}
	if e.said[k] == msg {
		return false
	}
	if msg == "" {
		delete(e.said, k)
		return false
	}
	e.said[k] = msg
	return true
}

// selected reports whether ref is a new selection of a policy: not the
// first one seen since the start (which may be as old as the Application).
func (e *argoEvents) selected(policy, ref string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	prev, seen := e.sels[policy]
	e.sels[policy] = ref
	return seen && prev != ref
}

// wrote reports whether commit is a new push of app ("" for the argocd
// method, whose every patch is one).
func (e *argoEvents) wrote(app objectKey, commit string) bool {
	if commit == "" {
		return true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pushed[app] == commit {
		return false
	}
	e.pushed[app] = commit
	return true
}

// argoApplicationKey is the Application an automation was converted from.
func argoApplicationKey(a *config.Automation) objectKey {
	return objectKey{ApplicationGVK.Kind, a.ArgoCD.AppNamespace, a.ArgoCD.App}
}

// argoEmit emits one event on the Argo CD object k, read from the cache
// (for its uid), unless Image Updater's ConfigMap turns events off.
func (c *Controller) argoEmit(ctx context.Context, set *config.Set, k objectKey, warning bool, reason, action, note string, annotations map[string]string) {
	if set != nil && set.ArgoCDKubeEventsOff {
		return
	}
	var gvk schema.GroupVersionKind
	switch k.Kind {
	case ApplicationGVK.Kind:
		gvk = ApplicationGVK
	case ImageUpdaterGVK.Kind:
		gvk = ImageUpdaterGVK
	case "ConfigMap":
		gvk = corev1.SchemeGroupVersion.WithKind("ConfigMap")
	default:
		return
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	if err := c.readOptional(gvk, func() error {
		return c.cache.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: k.Name}, obj)
	}); err != nil {
		c.log.Debug("no event: the object cannot be read", "object", k.String(), "error", err)
		return
	}
	typ := corev1.EventTypeNormal
	if warning {
		typ = corev1.EventTypeWarning
	}
	ev := argoEvent(obj, time.Now(), c.instance, typ, reason, action, note, annotations)
	if err := c.client.Create(ctx, ev); err != nil {
		c.log.Warn("writing an event", "object", k.String(), "reason", reason, "error", err)
	}
}

// argoEvent is one event on an Argo CD object, written as is rather than
// through the manager's recorder: the recorder folds the events of one
// reason on one version of an object into a series that keeps the first
// note and annotations for six minutes, and an Application's version does
// not change between two git write-backs (the second ImagesUpdated would
// carry the first's tags). argoEvents says each piece of news once, so
// nothing repeats. Named and filled as the recorder does (the object's
// name and the time in hexadecimal, a note of at most 1 kB).
func argoEvent(obj client.Object, now time.Time, instance, typ, reason, action, note string, annotations map[string]string) *eventsv1.Event {
	if len(note) > eventNoteLimit {
		note = note[:eventNoteLimit]
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	return &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:        fmt.Sprintf("%s.%x", obj.GetName(), now.UnixNano()),
			Namespace:   obj.GetNamespace(),
			Annotations: annotations,
		},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: eventController,
		ReportingInstance:   instance,
		Action:              action,
		Reason:              reason,
		Type:                typ,
		Note:                note,
		Regarding: corev1.ObjectReference{
			APIVersion:      gvk.GroupVersion().String(),
			Kind:            gvk.Kind,
			Namespace:       obj.GetNamespace(),
			Name:            obj.GetName(),
			UID:             obj.GetUID(),
			ResourceVersion: obj.GetResourceVersion(),
		},
	}
}

// eventNoteLimit is the longest note the API server accepts in an
// events.k8s.io/v1 Event.
const eventNoteLimit = 1024

// argoScanned emits the events of a scan of Applications' images: a new
// selection (NewSelection), a failure (ReconciliationFailed).
func (c *Controller) argoScanned(ctx context.Context, sels []automation.Selection) {
	set, _ := c.src.Load()
	apps := map[string]objectKey{}
	for _, a := range set.Automations {
		if a.ArgoCD == nil {
			continue
		}
		for _, im := range a.ArgoCD.Images {
			apps[im.Policy] = argoApplicationKey(a)
		}
	}
	for _, s := range sels {
		app, ok := apps[s.Key()]
		if !ok {
			continue
		}
		if s.Err != nil {
			msg := fmt.Sprintf("image %s: %v", s.Image, s.Err)
			if c.argo.warn(app, s.Key(), msg) {
				c.argoEmit(ctx, set, app, true, ReasonFailed, "Select", msg, nil)
			}
			continue
		}
		c.argo.warn(app, s.Key(), "")
		if c.argo.selected(s.Key(), s.Ref) {
			c.argoEmit(ctx, set, app, false, ReasonNewSelection, "Select", "latest image is "+s.Ref, nil)
		}
	}
}

// argoRan emits the events of a run of an Application's automation: its
// images written (ImagesUpdated, with Image Updater's note and
// annotations), a failure (ReconciliationFailed).
func (c *Controller) argoRan(ctx context.Context, res automation.RunResult) {
	set, _ := c.src.Load()
	a := set.Automation(res.Namespace, res.Name)
	if a == nil || a.ArgoCD == nil {
		return
	}
	app := argoApplicationKey(a)
	if msg := runFailure(runObservation{res: res}); msg != "" {
		if c.argo.warn(app, "run", msg) {
			c.argoEmit(ctx, set, app, true, ReasonFailed, "Run", msg, nil)
		}
		return
	}
	c.argo.warn(app, "run", "")
	written := res.Pushed || (a.ArgoCD.Method == config.ArgoMethodAPI && len(res.Changes) > 0 && !res.DryRun)
	if !written || !c.argo.wrote(app, res.Commit) {
		return
	}
	c.argoEmit(ctx, set, app, false, ReasonImagesUpdated, "Update", fmt.Sprintf("Successfully updated application '%s'", a.ArgoCD.App), argoUpdateAnnotations(res))
}

// argoUpdateAnnotations are the annotations of an ImagesUpdated event, as
// Image Updater sets them (argocd-image-updater.image-N/full-image-name,
// image-name, old-tag, new-tag for each image), and the commit, branch
// and pull request of a git write-back.
func argoUpdateAnnotations(res automation.RunResult) map[string]string {
	out := map[string]string{}
	seen := map[string]bool{}
	n := 0
	for _, ch := range res.Changes {
		if ch.FullImage == "" || seen[ch.FullImage] {
			continue
		}
		seen[ch.FullImage] = true
		p := fmt.Sprintf("argocd-image-updater.image-%d/", n)
		out[p+"full-image-name"] = ch.FullImage
		out[p+"image-name"] = ch.Image
		out[p+"old-tag"] = ch.OldTag
		out[p+"new-tag"] = ch.NewTag
		n++
	}
	if res.Commit != "" {
		out["hoist.dev/commit"] = res.Commit
		out["hoist.dev/branch"] = res.Branch
	}
	if res.PullRequest != "" {
		out["hoist.dev/pull-request"] = res.PullRequest
	}
	return out
}

// argoProblems emits a warning on each Argo CD object (an Application, an
// ImageUpdater, Image Updater's ConfigMap) that the configuration left out
// (InvalidSpec, naming the field; AccessDenied for a git:secret it may not
// read), once per message.
func (c *Controller) argoProblems(ctx context.Context) {
	set, _ := c.src.Load()
	invalid, denied := c.docs.argoProblems()
	for k, msg := range denied {
		if c.argo.warn(k, "config", msg) {
			c.argoEmit(ctx, set, k, true, ReasonAccessDenied, "Validate", msg, nil)
		}
	}
	for k, msg := range invalid {
		if _, ok := denied[k]; ok {
			continue
		}
		if c.argo.warn(k, "config", msg) {
			c.argoEmit(ctx, set, k, true, ReasonInvalid, "Validate", msg, nil)
		}
	}
	c.argo.clearConfig(invalid, denied)
}

// clearConfig forgets the configuration warnings of objects that no longer
// have a problem, so that a problem that comes back is said again.
func (e *argoEvents) clearConfig(invalid, denied map[objectKey]string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := range e.said {
		if k.source != "config" {
			continue
		}
		if _, ok := invalid[k.obj]; ok {
			continue
		}
		if _, ok := denied[k.obj]; ok {
			continue
		}
		delete(e.said, k)
	}
}

// argoProblems are the problems of the Argo CD objects left out of the
// configuration published last: invalid ones, with the field, and those
// denied their git:secret.
func (d *documents) argoProblems() (invalid, denied map[objectKey]string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	invalid, denied = map[objectKey]string{}, map[objectKey]string{}
	for k, e := range d.invalid {
		switch k.Kind {
		case ApplicationGVK.Kind, ImageUpdaterGVK.Kind, "ConfigMap":
			invalid[k] = problemMessage(e)
		}
	}
	for k, msg := range d.argoDenied {
		denied[k] = msg
	}
	return invalid, denied
}

// eventController is the reportingController of hoist's events.
const eventController = "hoist"

// eventInstance is the reportingInstance of hoist's events, as the
// manager's recorder names it: the controller and the host.
func eventInstance() string {
	host, _ := os.Hostname()
	return eventController + "-" + host
}
