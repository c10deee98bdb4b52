package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/registry/webhook"
)

// Condition types, in kstatus form.
const (
	ReadyCondition       = "Ready"
	ReconcilingCondition = "Reconciling"
	StalledCondition     = "Stalled"
)

// NoPolicyMessage is the Ready message of an ImageRepository that no
// ImagePolicy refers to: hoist lists a repository's tags for its policies,
// so it has listed none (and says so rather than "found 0 tags").
const NoPolicyMessage = "no ImagePolicy refers to this repository: its tags are listed once one does"

// Condition reasons and event reasons; Flux's where one fits.
const (
	// ReasonSucceeded: the object's last scan or run succeeded.
	ReasonSucceeded = "Succeeded"
	// ReasonProgressing: the object waits for its first scan or run.
	ReasonProgressing = "Progressing"
	// ReasonFailed: the object's last scan or run failed.
	ReasonFailed = "ReconciliationFailed"
	// ReasonInvalid: the object's spec is invalid; the message names the
	// field. Nothing is done with it until it changes.
	ReasonInvalid = "InvalidSpec"
	// ReasonNewSelection (event): a policy selected a new image.
	ReasonNewSelection = "NewSelection"
	// ReasonPushed (event): an automation pushed a commit.
	ReasonPushed = "Pushed"
	// ReasonPullRequest (event): an automation opened or updated a pull
	// request.
	ReasonPullRequest = "PullRequest"
	// ReasonKept (event): an automation kept changes back (held values,
	// values changed by hand, downgrades); status.keptChanges lists them.
	ReasonKept = "ChangesKept"
)

// RequestedAtAnnotation asks for a scan or run now (Flux's): when its value
// differs from status.lastHandledReconcileAt, the object's repository is
// scanned, or its automation run, and the value recorded.
const RequestedAtAnnotation = "reconcile.fluxcd.io/requestedAt"

// requested reports whether obj's reconcile request is new, and records
// it as handled.
func requested(obj client.Object, lastHandled *string) bool {
	v := obj.GetAnnotations()[RequestedAtAnnotation]
	if v == "" || v == *lastHandled {
		return false
	}
	*lastHandled = v
	return true
}

// reconciler is the reconcile.Reconciler of one kind: sync the
// configuration, then write one object's status.
type reconciler struct {
	c         *Controller
	kind      string
	reconcile func(context.Context, objectKey) error
}

func (r *reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if err := r.c.sync(ctx); err != nil {
		return reconcile.Result{}, err
	}
	k := objectKey{r.kind, req.Namespace, req.Name}
	err := r.reconcile(ctx, k)
	if errors.Is(err, errNotFound) {
		r.c.obs.forget(k)
	}
	return result(err, r.c.requeueDependency)
}

// result is what a reconcile that ended with err answers: nothing more for
// an object that is gone, another reconcile after requeueDependency for one
// waiting for another object, else err (controller-runtime's rate-limited
// retry).
func result(err error, requeueDependency time.Duration) (reconcile.Result, error) {
	switch {
	case errors.Is(err, errNotFound):
		return reconcile.Result{}, nil
	case errors.Is(err, errWaiting):
		return reconcile.Result{RequeueAfter: requeueDependency}, nil
	}
	return reconcile.Result{}, err
}

// kevent is one Kubernetes event, emitted once the status that records it
// is written (so that a failed patch does not repeat it).
type kevent struct {
	warning        bool
	reason, action string
	note           string
}

// get reads one object; errNotFound when it is gone.
func (c *Controller) get(ctx context.Context, k objectKey, obj client.Object) error {
	if err := c.client.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: k.Name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return errNotFound
		}
		return fmt.Errorf("reading %s: %w", k, err)
	}
	return nil
}

// patchStatus writes obj's status when it differs from before's, then
// emits the events.
func (c *Controller) patchStatus(ctx context.Context, before, obj client.Object, beforeStatus, status any, events []kevent) error {
	if equality.Semantic.DeepEqual(beforeStatus, status) {
		return nil
	}
	if err := c.client.Status().Patch(ctx, obj, client.MergeFrom(before)); err != nil {
		if apierrors.IsNotFound(err) {
			return errNotFound
		}
		return fmt.Errorf("writing the status of %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	for _, e := range events {
		typ := corev1.EventTypeNormal
		if e.warning {
			typ = corev1.EventTypeWarning
		}
		c.rec.Eventf(obj, nil, typ, e.reason, e.action, "%s", e.note)
	}
	return nil
}

// setReady sets the kstatus conditions of an object that is ready.
func setReady(conds *[]metav1.Condition, gen int64, msg string) {
	apimeta.SetStatusCondition(conds, metav1.Condition{Type: ReadyCondition, Status: metav1.ConditionTrue, Reason: ReasonSucceeded, Message: msg, ObservedGeneration: gen})
	apimeta.RemoveStatusCondition(conds, ReconcilingCondition)
	apimeta.RemoveStatusCondition(conds, StalledCondition)
}

// setProgressing sets the conditions of an object waiting for its first
// scan or run.
func setProgressing(conds *[]metav1.Condition, gen int64, msg string) {
	apimeta.SetStatusCondition(conds, metav1.Condition{Type: ReconcilingCondition, Status: metav1.ConditionTrue, Reason: ReasonProgressing, Message: msg, ObservedGeneration: gen})
	apimeta.SetStatusCondition(conds, metav1.Condition{Type: ReadyCondition, Status: metav1.ConditionUnknown, Reason: ReasonProgressing, Message: msg, ObservedGeneration: gen})
	apimeta.RemoveStatusCondition(conds, StalledCondition)
}

// setWaiting sets the conditions of an object this controller has no scan
// or run of yet: Reconciling, Ready=Unknown (setProgressing), unless its
// status already says Ready=True, or Ready=False for a failed scan or run,
// for its current generation. That status was written by the controller
// that led before (a restart, a failover): it stays until this one's own
// first scan or run, a failure, or a new generation says something new, so
// that a new leader does not flap Ready to Unknown on every object. An
// object never observed, or whose spec changed since, gets Reconciling.
func setWaiting(conds *[]metav1.Condition, gen int64, msg string) {
	if prev := apimeta.FindStatusCondition(*conds, ReadyCondition); prev != nil && prev.ObservedGeneration == gen &&
		((prev.Status == metav1.ConditionTrue && prev.Reason == ReasonSucceeded) || (prev.Status == metav1.ConditionFalse && prev.Reason == ReasonFailed)) {
		return
	}
	setProgressing(conds, gen, msg)
}

// setFailed sets the conditions of an object whose last scan or run
// failed, and reports whether that is news (an event is due).
func setFailed(conds *[]metav1.Condition, gen int64, msg string) bool {
	prev := apimeta.FindStatusCondition(*conds, ReadyCondition)
	news := prev == nil || prev.Status != metav1.ConditionFalse || prev.Message != msg
	apimeta.SetStatusCondition(conds, metav1.Condition{Type: ReadyCondition, Status: metav1.ConditionFalse, Reason: ReasonFailed, Message: msg, ObservedGeneration: gen})
	apimeta.RemoveStatusCondition(conds, ReconcilingCondition)
	apimeta.RemoveStatusCondition(conds, StalledCondition)
	return news
}

// setStalled sets the conditions of an object whose spec is invalid, and
// reports whether that is news.
func setStalled(conds *[]metav1.Condition, gen int64, msg string) bool {
	prev := apimeta.FindStatusCondition(*conds, ReadyCondition)
	news := prev == nil || prev.Status != metav1.ConditionFalse || prev.Message != msg
	apimeta.SetStatusCondition(conds, metav1.Condition{Type: ReadyCondition, Status: metav1.ConditionFalse, Reason: ReasonInvalid, Message: msg, ObservedGeneration: gen})
	apimeta.SetStatusCondition(conds, metav1.Condition{Type: StalledCondition, Status: metav1.ConditionTrue, Reason: ReasonInvalid, Message: msg, ObservedGeneration: gen})
	apimeta.RemoveStatusCondition(conds, ReconcilingCondition)
	return news
}

// problemMessage says what is wrong with an object, naming the field,
// without the synthetic file name the controller reads it from.
func problemMessage(e *config.Error) string {
	msg := e.Err.Error()
	if e.Field != "" {
		return e.Field + ": " + msg
	}
	return msg
}

// invalid handles an object left out of the configuration: it reports
// whether it was, after setting its conditions.
func (c *Controller) invalid(k objectKey, conds *[]metav1.Condition, gen int64, events *[]kevent) bool {
	if msg := c.docs.deniedAccess(k); msg != "" {
		if setDenied(conds, gen, msg) {
			*events = append(*events, kevent{warning: true, reason: ReasonAccessDenied, action: "Validate", note: msg})
		}
		return true
	}
	e := c.docs.problem(k)
	if e == nil {
		return false
	}
	msg := problemMessage(e)
	if setStalled(conds, gen, msg) {
		*events = append(*events, kevent{warning: true, reason: ReasonInvalid, action: "Validate", note: msg})
	}
	return true
}

func (c *Controller) reconcileRepository(ctx context.Context, k objectKey) error {
	var obj v1alpha1.ImageRepository
	if err := c.get(ctx, k, &obj); err != nil {
		return err
	}
	if obj.Spec.Suspend {
		return nil
	}
	before := obj.DeepCopy()
	st := &obj.Status
	st.ObservedGeneration = obj.Generation
	var events []kevent
	if !c.invalid(k, &st.Conditions, obj.Generation, &events) {
		if requested(&obj, &st.LastHandledReconcileAt) {
			c.svc.Rescan(k.Namespace + "/" + k.Name)
		}
		st.CanonicalImageName = canonicalImageName(obj.Spec.Image)
		switch scan, ok := c.obs.scan(k); {
		case !ok:
			setWaiting(&st.Conditions, obj.Generation, "waiting for the first scan")
		case scan.err != "":
			if setFailed(&st.Conditions, obj.Generation, scan.err) {
				events = append(events, kevent{warning: true, reason: ReasonFailed, action: "Scan", note: scan.err})
			}
		case scan.unused:
			// Not "found 0 tags": nothing was listed.
			setReady(&st.Conditions, obj.Generation, NoPolicyMessage)
		default:
			st.LastScanResult = &v1alpha1.ScanResult{TagCount: scan.tags, ScanTime: *timePtr(scan.at), LatestTags: scan.latest}
			setReady(&st.Conditions, obj.Generation, fmt.Sprintf("successful scan: found %d tags", scan.tags))
			if prev := before.Status.LastScanResult; prev != nil {
				holdTime(&st.LastScanResult.ScanTime, prev.ScanTime, c.refresh, func() bool {
					return equality.Semantic.DeepEqual(before.Status, obj.Status)
				})
			}
		}
	}
	return c.patchStatus(ctx, before, &obj, before.Status, obj.Status, events)
}

// holdTime sets *t back to prev, the time the status holds, when that
// leaves nothing to write (unchanged reports whether the status is then as
// it was) and prev is less than refresh before *t: a scan or run that
// changed nothing writes no status, but the time it shows is never more
// than refresh behind. A refresh of zero never holds the time.
func holdTime(t *metav1.Time, prev metav1.Time, refresh time.Duration, unchanged func() bool) {
	if refresh <= 0 || prev.IsZero() || t.Sub(prev.Time) >= refresh {
		return
	}
	now := *t
	*t = prev
	if !unchanged() {
		*t = now
	}
}

// canonicalImageName is the image's repository with the registry and,
// on Docker Hub, the library/ namespace made explicit, as Flux writes
// status.canonicalImageName: podinfo is index.docker.io/library/podinfo.
// It is "" when image is not a repository reference.
func canonicalImageName(image string) string {
	ref, err := name.NewRepository(image)
	if err != nil {
		return ""
	}
	return ref.Name()
}

func (c *Controller) reconcilePolicy(ctx context.Context, k objectKey) error {
	var obj v1alpha1.ImagePolicy
	if err := c.get(ctx, k, &obj); err != nil {
		return err
	}
	if obj.Spec.Suspend {
		return nil
	}
	before := obj.DeepCopy()
	st := &obj.Status
	st.ObservedGeneration = obj.Generation
	var events []kevent
	waiting := false
	if !c.invalid(k, &st.Conditions, obj.Generation, &events) {
		if requested(&obj, &st.LastHandledReconcileAt) {
			ns := obj.Spec.ImageRepositoryRef.Namespace
			if ns == "" {
				ns = obj.Namespace
			}
			c.svc.Rescan(ns + "/" + obj.Spec.ImageRepositoryRef.Name)
		}
		switch sel, ok := c.obs.selection(k); {
		case !ok:
			waiting = true
			setWaiting(&st.Conditions, obj.Generation, "waiting for the first scan of the repository")
		case sel.Err != nil:
			if setFailed(&st.Conditions, obj.Generation, sel.Err.Error()) {
				events = append(events, kevent{warning: true, reason: ReasonFailed, action: "Select", note: sel.Err.Error()})
			}
		default:
			ref := &v1alpha1.ImageRef{Name: sel.Image, Tag: sel.Tag, Digest: sel.Digest}
			if st.LatestRef == nil || *st.LatestRef != *ref {
				if st.LatestRef != nil {
					st.ObservedPreviousRef = st.LatestRef
				}
				st.LatestRef = ref
				events = append(events, kevent{reason: ReasonNewSelection, action: "Select", note: "latest image is " + sel.Ref})
			}
			msg := "latest image is " + sel.Ref
			if obj.Spec.Hold {
				msg += "; held: the values in Git are kept as they are"
			}
			setReady(&st.Conditions, obj.Generation, msg)
		}
	}
	if err := c.patchStatus(ctx, before, &obj, before.Status, obj.Status, events); err != nil || !waiting {
		return err
	}
	return errWaiting
}

func (c *Controller) reconcileAutomation(ctx context.Context, k objectKey) error {
	var obj v1alpha1.ImageUpdateAutomation
	if err := c.get(ctx, k, &obj); err != nil {
		return err
	}
	if obj.Spec.Suspend {
		return nil
	}
	before := obj.DeepCopy()
	st := &obj.Status
	st.ObservedGeneration = obj.Generation
	var events []kevent
	if !c.invalid(k, &st.Conditions, obj.Generation, &events) {
		if requested(&obj, &st.LastHandledReconcileAt) {
			c.svc.RunNow(k.Namespace + "/" + k.Name)
		}
		switch run, ok := c.obs.run(k); {
		case !ok:
			setWaiting(&st.Conditions, obj.Generation, "waiting for the first run")
		default:
			ranAt := timePtr(run.at)
			st.LastAutomationRunTime = ranAt
			if !run.pushedAt.IsZero() && st.LastPushCommit != run.pushed.Commit {
				st.LastPushCommit = run.pushed.Commit
				st.LastPushTime = timePtr(run.pushedAt)
				events = append(events, kevent{reason: ReasonPushed, action: "Push", note: fmt.Sprintf("pushed commit %s to branch %s", run.pushed.Commit, run.pushed.Branch)})
				if run.pushed.PullRequest != "" {
					events = append(events, kevent{reason: ReasonPullRequest, action: "PullRequest", note: "pull request " + run.pushed.PullRequest})
				}
			}
			if kept := keptChanges(run.res.Kept); !equality.Semantic.DeepEqual(kept, st.KeptChanges) {
				st.KeptChanges = kept
				if len(kept) > 0 {
					events = append(events, kevent{reason: ReasonKept, action: "Keep", note: keptNote(kept)})
				}
			}
			if msg := runFailure(run); msg != "" {
				if setFailed(&st.Conditions, obj.Generation, msg) {
					events = append(events, kevent{warning: true, reason: ReasonFailed, action: "Run", note: msg})
				}
			} else {
				msg := "no updates made"
				if st.LastPushCommit != "" {
					msg = "last pushed commit " + st.LastPushCommit
				}
				setReady(&st.Conditions, obj.Generation, msg)
			}
			if prev := before.Status.LastAutomationRunTime; prev != nil {
				holdTime(ranAt, *prev, c.refresh, func() bool {
					return equality.Semantic.DeepEqual(before.Status, obj.Status)
				})
			}
		}
	}
	return c.patchStatus(ctx, before, &obj, before.Status, obj.Status, events)
}

// keptChanges are a run's kept changes as status.keptChanges shows them.
func keptChanges(kept []automation.Kept) []v1alpha1.KeptChange {
	var out []v1alpha1.KeptChange
	for _, k := range kept {
		out = append(out, v1alpha1.KeptChange{File: k.File, Old: k.Old, New: k.New, Policy: k.Policy, Reason: string(k.Reason)})
	}
	return out
}

// keptNote is the event's note: each change kept, and why.
func keptNote(kept []v1alpha1.KeptChange) string {
	var b strings.Builder
	for i, k := range kept {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: kept %s, not %s (%s)", k.File, k.Old, k.New, k.Reason)
	}
	return b.String()
}

// runFailure says why a run failed, or "".
func runFailure(run runObservation) string {
	switch {
	case run.res.Err != nil:
		return run.res.Err.Error()
	case len(run.res.Errors) > 0:
		return run.res.Errors[0].Error()
	}
	return ""
}

// timePtr is t as the API stores it, to the second.
func timePtr(t time.Time) *metav1.Time {
	m := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &m
}

func (c *Controller) reconcileReceiver(ctx context.Context, k objectKey) error {
	var obj v1alpha1.Receiver
	if err := c.get(ctx, k, &obj); err != nil {
		return err
	}
	if obj.Spec.Suspend {
		return nil
	}
	before := obj.DeepCopy()
	st := &obj.Status
	st.ObservedGeneration = obj.Generation
	var events []kevent
	if !c.invalid(k, &st.Conditions, obj.Generation, &events) {
		var token string // none for generic-oidc: its requests carry ID tokens
		var err error
		if obj.Spec.Type != webhook.TypeGenericOIDC {
			token, err = webhook.ReadToken(c.docs.secretsDir, obj.Spec.SecretRef.Name)
		}
		if err != nil {
			msg := fmt.Sprintf("the token of Secret %s/%s cannot be read", obj.Namespace, obj.Spec.SecretRef.Name)
			st.WebhookPath = ""
			if setFailed(&st.Conditions, obj.Generation, msg) {
				events = append(events, kevent{warning: true, reason: ReasonFailed, action: "ReadToken", note: msg})
			}
		} else {
			st.WebhookPath = webhook.Path(token, obj.Name, obj.Namespace)
			setReady(&st.Conditions, obj.Generation, "receiver initialized for path "+st.WebhookPath)
		}
	}
	return c.patchStatus(ctx, before, &obj, before.Status, obj.Status, events)
}
