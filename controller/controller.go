// Package controller runs hoist as a Kubernetes controller: the
// ImageRepository, ImagePolicy and ImageUpdateAutomation custom resources
// (hoist.dev/v1alpha1) are the documents, and their status is where the
// results go. It is a source of documents and a sink for status around the
// same loop as the service (package automation): the reconcilers read the
// objects from the manager's cache into a *config.Set, hand it to an
// automation.Service, and write what the service's scans and runs observed
// back to each object's status, patched once per reconcile, with
// Kubernetes events on a new selection, a push and a failure.
//
// It writes the status of hoist.dev objects only.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/v1alpha1"
)

// NewScheme is a scheme with Kubernetes' built-in types and hoist's.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return s
}

// Options configure a Controller.
type Options struct {
	// Service configures the loop: Runner and Registry are required;
	// External, OnScan and OnRun are set by New.
	Service automation.ServiceOptions
	// Concurrent is the number of objects of one kind reconciled at once.
	// Default 1.
	Concurrent int
	// Logger receives one line per decision worth knowing; nil discards.
	Logger *slog.Logger
}

// Controller is hoist's reconcilers and the service they feed.
type Controller struct {
	client client.Client
	svc    *automation.Service
	rec    recorder.EventRecorder
	log    *slog.Logger
	docs   *documents
	obs    *observations
	// events wake the reconciler of a kind when the service observed
	// something of one of its objects.
	events map[string]chan event.GenericEvent
}

// New builds the controller's service and registers its reconcilers and
// the service (which runs only while this manager leads, when leader
// election is on) with mgr.
func New(mgr manager.Manager, o Options) (*Controller, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Concurrent <= 0 {
		o.Concurrent = 1
	}
	c := &Controller{
		client: mgr.GetClient(),
		rec:    mgr.GetEventRecorder("hoist"),
		log:    o.Logger,
		docs:   &documents{invalid: map[objectKey]*config.Error{}, secrets: mgr.GetAPIReader()},
		obs:    newObservations(),
		events: map[string]chan event.GenericEvent{},
	}
	so := o.Service
	if so.Runner != nil {
		c.docs.secretsDir = so.Runner.SecretsDir
	}
	so.External = true
	so.ConfigPaths = nil
	so.OnScan = c.onScan
	so.OnRun = c.onRun
	if so.Logger == nil {
		so.Logger = o.Logger
	}
	svc, err := automation.NewService(so)
	if err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	if err := svc.Apply(&config.Set{}); err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	c.svc = svc

	changed := builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{}))
	for _, k := range []struct {
		kind string
		obj  client.Object
		r    func(context.Context, objectKey) error
	}{
		{v1alpha1.ImageRepositoryKind, &v1alpha1.ImageRepository{}, c.reconcileRepository},
		{v1alpha1.ImagePolicyKind, &v1alpha1.ImagePolicy{}, c.reconcilePolicy},
		{v1alpha1.ImageUpdateAutomationKind, &v1alpha1.ImageUpdateAutomation{}, c.reconcileAutomation},
		{v1alpha1.ReceiverKind, &v1alpha1.Receiver{}, c.reconcileReceiver},
	} {
		ch := make(chan event.GenericEvent, 1024)
		c.events[k.kind] = ch
		r := &reconciler{c: c, kind: k.kind, reconcile: k.r}
		err := builder.ControllerManagedBy(mgr).
			Named(k.kind).
			For(k.obj, changed).
			WatchesRawSource(source.Channel(ch, &handler.EnqueueRequestForObject{})).
			WithOptions(crcontroller.Options{MaxConcurrentReconciles: o.Concurrent}).
			Complete(r)
		if err != nil {
			return nil, fmt.Errorf("controller: registering the %s reconciler: %w", k.kind, err)
		}
	}
	if err := mgr.Add(manager.RunnableFunc(svc.Run)); err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	return c, nil
}

// Service is the loop the controller drives: its HookHandler serves the
// Receivers' webhooks, its OpsHandler /status and hoist's metrics.
func (c *Controller) Service() *automation.Service { return c.svc }

// notify wakes the reconciler of kind for one object, without blocking the
// service.
func (c *Controller) notify(kind string, obj client.Object) {
	ch := c.events[kind]
	ev := event.GenericEvent{Object: obj}
	select {
	case ch <- ev:
	default:
		go func() { ch <- ev }()
	}
}

// onScan records a repository's scan and wakes the reconcilers of the
// repository and its policies.
func (c *Controller) onScan(repo *config.Repository, sels []automation.Selection) {
	now := time.Now()
	c.obs.scanned(repo, sels, now)
	c.notify(v1alpha1.ImageRepositoryKind, repo.ImageRepository)
	for _, s := range sels {
		p := &v1alpha1.ImagePolicy{}
		p.Namespace, p.Name = s.Namespace, s.Name
		c.notify(v1alpha1.ImagePolicyKind, p)
	}
}

// onRun records an automation's run and wakes its reconciler.
func (c *Controller) onRun(a *config.Automation, res automation.RunResult) {
	c.obs.ran(a, res, time.Now())
	c.notify(v1alpha1.ImageUpdateAutomationKind, a.ImageUpdateAutomation)
}

// sync makes the objects in the cache the service's configuration, when
// they changed since the last sync.
func (c *Controller) sync(ctx context.Context) error {
	return c.docs.sync(ctx, c.client, c.svc, c.log)
}

// errNotFound says that the object of a reconcile is gone.
var errNotFound = errors.New("object not found")

// objectKey names one object of one kind.
type objectKey struct {
	Kind, Namespace, Name string
}

func (k objectKey) String() string { return k.Kind + " " + k.Namespace + "/" + k.Name }
