// Package controller runs hoist as a Kubernetes controller: the
// ImageRepository, ImagePolicy, ImageUpdateAutomation, GitRepository and
// Receiver custom resources (hoist.dev/v1alpha1), with Flux's
// GitRepositories while their CRD is installed, are the documents, and
// their status is where the results go. It drives the loop through the service's seam (package
// service): the reconcilers read the objects from the manager's cache into
// a *config.Set, which the controller's service.Source delivers to a
// service.Service (its schedules, batches and webhooks); the controller is
// that Service's service.Observer, and writes what its scans and runs saw
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
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	crsource "sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/service"
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
	// Source and Observer are set by New (ConfigPaths is not used).
	Service service.ServiceOptions
	// Concurrent is the number of objects of one kind reconciled at once.
	// Default 1.
	Concurrent int
	// Logger receives one line per decision worth knowing; nil discards.
	Logger *slog.Logger
	// Now is the clock of the ServiceAccount tokens kept for cloud
	// identities. Default: time.Now.
	Now func() time.Time
	// EventsAddr, when set, is where every event of the loop is posted
	// in Flux's event format (the event endpoint of Flux's
	// notification-controller), instead of hoist sending to the Providers
	// of Flux's Alerts itself (see docs/notifications.md). Default: none.
	EventsAddr string
	// ArgoCDImageUpdaterNamespace is the namespace of Argo CD Image
	// Updater's ConfigMap (argocd-image-updater-config), read and watched
	// when Argo CD's Applications are served; "" reads none. The manager's
	// cache must hold it (CacheOptions).
	ArgoCDImageUpdaterNamespace string
	// StatusRefresh bounds how long a scan or run that changed nothing
	// else leaves the time it happened unwritten: an ImageRepository's
	// status.lastScanResult.scanTime, an ImageUpdateAutomation's
	// status.lastAutomationRunTime. Such a scan or run writes no status
	// until the time in the status is StatusRefresh old. Zero writes the
	// time on every scan and run, as Flux does.
	StatusRefresh time.Duration
	// RequeueDependency is when an ImagePolicy waiting for its
	// ImageRepository's first scan is reconciled again, as Flux's
	// --requeue-dependency. The scan's own observation reconciles it at
	// once; this is the safety net. Zero means 30s.
	RequeueDependency time.Duration
}

// Controller is hoist's reconcilers and the service they feed.
type Controller struct {
	client client.Client
	svc    *service.Service
	src    *source
	rec    recorder.EventRecorder
	// instance is the reportingInstance of the events written without
	// the recorder (argoEvent), as the recorder names it.
	instance string
	log      *slog.Logger
	// refresh is Options.StatusRefresh.
	refresh time.Duration
	// requeueDependency is Options.RequeueDependency.
	requeueDependency time.Duration
	docs              *documents
	obs               *observations
	argo              *argoEvents
	// events wake the reconciler of a kind when the service observed
	// something of one of its objects.
	events map[string]chan event.GenericEvent

	// cache reads the objects of the manager's cache, Flux's
	// GitRepositories (unstructured) included; informers starts and
	// stops the watch of Flux's GitRepositories.
	cache     client.Reader
	informers cache.Cache
	// changed is the predicate of the watch events that may change the
	// configuration, counted in docs.changes.
	changed predicate.Predicate
	// automations is the ImageUpdateAutomations' controller, which
	// watches Flux's GitRepositories while their CRD is installed.
	automations crcontroller.Controller
	// optional are the kinds of other projects read while their CRDs
	// are installed (watchOptional); set before the manager starts.
	optional []*optionalKind
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
	if o.RequeueDependency <= 0 {
		o.RequeueDependency = 30 * time.Second
	}
	c := &Controller{
		client:    mgr.GetClient(),
		cache:     mgr.GetCache(),
		informers: mgr.GetCache(),
		rec:       mgr.GetEventRecorder(eventController),
		instance:  eventInstance(),
		log:       o.Logger,
		refresh:   o.StatusRefresh,
		docs:      &documents{invalid: map[objectKey]*config.Error{}, secrets: mgr.GetAPIReader()},
		obs:       newObservations(),
		argo:      newArgoEvents(),
		src:       newSource(),
		events:    map[string]chan event.GenericEvent{},
	}
	c.requeueDependency = o.RequeueDependency
	so := o.Service
	if so.Runner != nil {
		c.docs.secretsDir = so.Runner.SecretsDir
		if sc := so.Runner.Scanner; sc != nil && sc.Credentials == nil {
			sc.Credentials = newIdentities(mgr.GetCache(), mgr.GetAPIReader(), mgr.GetClient(), o.Now).credentials
		}
	}
	so.ConfigPaths = nil
	so.Source = c.src
	so.Observer = (*observer)(c)
	if so.Logger == nil {
		so.Logger = o.Logger
	}
	svc, err := service.NewService(so)
	if err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	// The first configuration is empty: the objects come once the
	// reconcilers read the cache.
	if _, err := svc.Load(); err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	c.svc = svc

	// An event that passes changed may change the configuration: it is
	// counted, so that a reconcile after none lists nothing.
	c.changed = c.counted(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{}))
	changed := builder.WithPredicates(c.changed)
	// The automations by the GitRepository they name, hoist's or Flux's.
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.ImageUpdateAutomation{}, sourceRefIndex, sourceRefOf); err != nil {
		return nil, fmt.Errorf("controller: indexing the ImageUpdateAutomations by sourceRef: %w", err)
	}
	// The ImageRepositories by serviceAccountName, the ServiceAccounts by
	// image pull secret.
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.ImageRepository{}, serviceAccountIndex, serviceAccountName); err != nil {
		return nil, fmt.Errorf("controller: indexing the ImageRepositories by serviceAccountName: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.ServiceAccount{}, pullSecretIndex, pullSecretNames); err != nil {
		return nil, fmt.Errorf("controller: indexing the ServiceAccounts by image pull secret: %w", err)
	}
	for _, k := range []struct {
		kind string
		obj  client.Object
		r    func(context.Context, objectKey) error
		// list, when set, is the kind's list: the kind uses Secrets,
		// and a change of one reconciles the objects that use it.
		list client.ObjectList
	}{
		{v1alpha1.ImageRepositoryKind, &v1alpha1.ImageRepository{}, c.reconcileRepository, &v1alpha1.ImageRepositoryList{}},
		{v1alpha1.ImagePolicyKind, &v1alpha1.ImagePolicy{}, c.reconcilePolicy, nil},
		{v1alpha1.ImageUpdateAutomationKind, &v1alpha1.ImageUpdateAutomation{}, c.reconcileAutomation, &v1alpha1.ImageUpdateAutomationList{}},
		{v1alpha1.GitRepositoryKind, &v1alpha1.GitRepository{}, c.reconcileGitRepository, &v1alpha1.GitRepositoryList{}},
		{v1alpha1.ReceiverKind, &v1alpha1.Receiver{}, c.reconcileReceiver, &v1alpha1.ReceiverList{}},
	} {
		ch := make(chan event.GenericEvent, 1024)
		c.events[k.kind] = ch
		r := &reconciler{c: c, kind: k.kind, reconcile: k.r}
		b := builder.ControllerManagedBy(mgr).
			Named(k.kind).
			For(k.obj, changed).
			WatchesRawSource(crsource.Channel(ch, &handler.EnqueueRequestForObject{})).
			WithOptions(crcontroller.Options{MaxConcurrentReconciles: o.Concurrent})
		if k.list != nil {
			// The Secrets' metadata only: their values are read
			// from the API server when they change.
			if err := mgr.GetFieldIndexer().IndexField(context.Background(), k.obj, secretIndex, secretNames); err != nil {
				return nil, fmt.Errorf("controller: indexing the %s by Secret: %w", k.kind, err)
			}
			users := secretUsers(c.cache, k.list, &c.docs.changes)
			switch k.kind {
			case v1alpha1.ImageUpdateAutomationKind:
				users = c.automationSecretUsers(users)
			case v1alpha1.ImageRepositoryKind:
				users = repositorySecretUsers(c.cache, users, &c.docs.changes)
			}
			b = b.Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(users),
				builder.OnlyMetadata, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{}))
		}
		if k.kind == v1alpha1.ImageRepositoryKind {
			// The ServiceAccounts of serviceAccountName, from the cache
			// rather than the API server at each scan: a change of one
			// (its image pull secrets, its annotations) rescans the
			// repositories that name it (documents.publish).
			b = b.Watches(&corev1.ServiceAccount{}, handler.EnqueueRequestsFromMapFunc(serviceAccountUsers(c.cache, &c.docs.changes)),
				builder.WithPredicates(predicate.ResourceVersionChangedPredicate{}))
		}
		if k.kind == v1alpha1.ImageUpdateAutomationKind {
			// hoist's GitRepositories; Flux's are watched while their
			// CRD is installed (fluxGitRepositories).
			b = b.Watches(&v1alpha1.GitRepository{}, handler.EnqueueRequestsFromMapFunc(gitRepositoryUsers(c.cache)), changed)
		}
		ctl, err := c.accessWatches(k.kind, b).Build(r)
		if err != nil {
			return nil, fmt.Errorf("controller: registering the %s reconciler: %w", k.kind, err)
		}
		if k.kind == v1alpha1.ImageUpdateAutomationKind {
			c.automations = ctl
		}
	}
	c.docs.fluxGit = c.fluxGitRepositories()
	argo, err := c.watchArgo(mgr, o)
	if err != nil {
		return nil, err
	}
	notifications, err := c.watchNotifications(mgr, o)
	if err != nil {
		return nil, err
	}
	if err := c.watchOptional(mgr, slices.Concat([]*optionalKind{c.docs.fluxGit}, argo, notifications)); err != nil {
		return nil, err
	}
	run := svc.Run
	if st := so.Runner.State; st != nil {
		// The state the last leader recorded in the objects' status
		// seeds the local state store before the loop starts.
		run = func(ctx context.Context) error {
			sels, pushes, err := restoreState(ctx, c.client, st)
			if err != nil {
				return fmt.Errorf("controller: %w", err)
			}
			c.log.Info("state restored from the objects' status", "selections", sels, "pushes", pushes)
			return svc.Run(ctx)
		}
	}
	if err := mgr.Add(manager.RunnableFunc(run)); err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	return c, nil
}

// counted is p, counting in c.docs.changes the events it lets through.
func (c *Controller) counted(p predicate.Predicate) predicate.Predicate {
	count := func(ok bool) bool {
		if ok {
			c.docs.changes.Add(1)
		}
		return ok
	}
	return predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return count(p.Create(e)) },
		UpdateFunc:  func(e event.UpdateEvent) bool { return count(p.Update(e)) },
		DeleteFunc:  func(e event.DeleteEvent) bool { return count(p.Delete(e)) },
		GenericFunc: func(e event.GenericEvent) bool { return count(p.Generic(e)) },
	}
}

// CacheOptions adds to o what the controller needs of the manager's cache:
// the metadata of every Secret in the watched namespaces, whatever
// --watch-label-selector says (a Secret does not carry the shard's label),
// without annotations, which may hold the value; every ServiceAccount
// there (serviceAccountName), whatever its labels, without its managed
// fields; of ConfigMaps only Argo CD Image Updater's, in
// imageUpdaterNamespace ("": none). (The CustomResourceDefinitions the
// controller follows are each read by name in a cache of their own:
// watchOptional.)
func CacheOptions(o cache.Options, imageUpdaterNamespace string) cache.Options {
	by := maps.Clone(o.ByObject)
	if by == nil {
		by = map[client.Object]cache.ByObject{}
	}
	by[&corev1.Secret{}] = cache.ByObject{Label: labels.Everything(), Transform: stripSecretMetadata}
	by[&corev1.ServiceAccount{}] = cache.ByObject{Label: labels.Everything(), Transform: stripServiceAccount}
	if imageUpdaterNamespace != "" {
		by[&corev1.ConfigMap{}] = cache.ByObject{
			Namespaces: map[string]cache.Config{imageUpdaterNamespace: {}},
			Label:      labels.Everything(),
			Field:      fields.OneTermEqualSelector("metadata.name", config.ArgoConfigMapName),
		}
	}
	o.ByObject = by
	return o
}

// Service is the loop the controller drives: its HookHandler serves the
// Receivers' webhooks, its OpsHandler /status and hoist's metrics.
func (c *Controller) Service() *service.Service { return c.svc }

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

// observer is the Controller as the service's Observer: it records what
// the service saw, and wakes the reconcilers that write it to status.
type observer Controller

var _ service.Observer = (*observer)(nil)

// Scanned records a repository's scan and wakes the reconcilers of the
// repository and its policies.
func (o *observer) Scanned(repository string, sels []automation.Selection) {
	c := (*Controller)(o)
	ns, name, _ := strings.Cut(repository, "/")
	c.obs.scanned(ns, name, sels, time.Now())
	c.argoScanned(context.Background(), sels)
	r := &v1alpha1.ImageRepository{}
	r.Namespace, r.Name = ns, name
	c.notify(v1alpha1.ImageRepositoryKind, r)
	for _, s := range sels {
		p := &v1alpha1.ImagePolicy{}
		p.Namespace, p.Name = s.Namespace, s.Name
		c.notify(v1alpha1.ImagePolicyKind, p)
	}
}

// Ran records an automation's run and wakes its reconciler.
func (o *observer) Ran(res automation.RunResult) {
	c := (*Controller)(o)
	c.obs.ran(res, time.Now())
	c.argoRan(context.Background(), res)
	a := &v1alpha1.ImageUpdateAutomation{}
	a.Namespace, a.Name = res.Namespace, res.Name
	c.notify(v1alpha1.ImageUpdateAutomationKind, a)
}

// sync makes the objects in the cache the service's configuration, when
// they changed since the last sync, and waits until the service applied it.
//
// The objects that use a Secret that changed are scanned or run again now,
// so that a fixed credential shows at once.
func (c *Controller) sync(ctx context.Context) error {
	users, err := c.docs.sync(ctx, c.cache, c.src, c.log)
	if err != nil {
		return err
	}
	c.argoProblems(ctx)
	for _, k := range users {
		key := k.Namespace + "/" + k.Name
		switch k.Kind {
		case v1alpha1.ImageRepositoryKind:
			c.log.Info("a Secret changed: rescanning", "repository", key)
			c.svc.Rescan(key)
		case v1alpha1.ImageUpdateAutomationKind:
			c.log.Info("a Secret changed: running", "automation", key)
			c.svc.RunNow(key)
		}
	}
	return nil
}

// errNotFound says that the object of a reconcile is gone.
var errNotFound = errors.New("object not found")

// errWaiting is returned by a reconcile whose object waits for another (an
// ImagePolicy for its ImageRepository's first scan), after its status is
// written: the object is reconciled again after RequeueDependency.
var errWaiting = errors.New("waiting for a dependency")

// objectKey names one object of one kind.
type objectKey struct {
	Kind, Namespace, Name string
}

func (k objectKey) String() string { return k.Kind + " " + k.Namespace + "/" + k.Name }
