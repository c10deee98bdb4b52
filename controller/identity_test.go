package controller

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
	"github.com/hoist-dev/hoist/service"
)

// syncBuffer is a log sink safe for the controller's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServiceAccountCredentials runs the controller against a real API
// server with ImageRepositories that name a serviceAccountName: with
// provider generic the ServiceAccount's image pull secrets log in; with
// aws, azure and gcp its token (a TokenRequest with the cloud's audience)
// is exchanged at the cloud's (fake) identity service, which trusts it
// through the API server's TokenReview, for the role or application its
// annotations name, and the registry's token service accepts exactly the
// credentials the exchange yields. A missing annotation, a ServiceAccount
// the cloud does not trust, or no ServiceAccount, is Ready=False naming
// the ServiceAccount and the cloud's error.
func TestServiceAccountCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver")
	}
	kube := testenv.StartKube(t, NewScheme(), filepath.Join("..", "config", "crd"))
	testenv.CloudEnv(t) // after StartKube, which finds its binaries under HOME
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	c := kube.Client

	aws := testenv.NewFakeAWS(t, time.Now)
	awsTrust := kube.ServiceAccountSubject(registry.AWSIdentityAudience)
	aws.WebIdentity = func(role, tok string) bool {
		sub, ok := awsTrust(tok)
		return ok && role == aws.RoleARN && sub == "system:serviceaccount:aws:puller"
	}
	t.Setenv("AWS_ENDPOINT_URL_ECR", aws.URL)
	t.Setenv("AWS_ENDPOINT_URL_STS", aws.URL)

	entra := testenv.NewFakeEntra(t, time.Now)
	entraTrust := kube.ServiceAccountSubject(registry.AzureIdentityAudience)
	entra.Assertion = func(clientID, tok string) bool {
		sub, ok := entraTrust(tok)
		return ok && clientID == entra.ClientID && sub == "system:serviceaccount:azure:puller"
	}
	t.Setenv("AZURE_AUTHORITY_HOST", entra.URL)

	md := testenv.NewFakeGCEMetadata(t)
	md.ProjectID, md.ClusterLocation, md.ClusterName = "hoist-test", "europe-west1", "fleet"
	t.Setenv("GCE_METADATA_HOST", md.Host)
	google := testenv.NewFakeGoogleFederation(t, time.Now)
	google.Audience = "identitynamespace:hoist-test.svc.id.goog:https://container.googleapis.com/v1/projects/hoist-test/locations/europe-west1/clusters/fleet"
	google.Subject = kube.ServiceAccountSubject("hoist-test.svc.id.goog")
	google.Impersonators = func(sub string) bool { return sub == "system:serviceaccount:gcp:puller" }

	const puller, pullerPassword = "puller", "puller-password"
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{
		Auth: testenv.AuthToken, Username: "pusher", Password: "pusher-password",
		Accept: func(u, p string) bool {
			return (u == "pusher" && p == "pusher-password") || (u == puller && p == pullerPassword) ||
				aws.Accept(u, p) || entra.Accept(u, p) || google.Accept(u, p)
		},
	})
	reg.Faults.Add(testenv.Fault{Method: http.MethodPost, Path: `^/oauth2/exchange$`, Do: entra.ACRExchange()})
	reg.PushImage(t, "team/app", "1.0.0", testenv.ImageOptions{})
	reg.PushImage(t, "team/app", "1.1.0", testenv.ImageOptions{})
	_, port, _ := net.SplitHostPort(reg.Host)

	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rc, err := registry.New(
		registry.WithTransport(testenv.LoopbackTransport()),
		registry.WithCloudHTTPClient(entra.Client),
		registry.WithGoogleAPIs(google.URL, google.URL),
		registry.WithMaxRetries(0),
		registry.WithLogger(logger),
	)
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	runner := &automation.Runner{Scanner: &automation.Scanner{Registry: rc}, StateDir: state, SecretsDir: filepath.Join(state, "secrets"), Logger: logger}
	startManager(ctx, t, kube, runner, logger)

	dockerConfig, _ := json.Marshal(map[string]any{"auths": map[string]any{reg.Host: map[string]string{
		"auth": base64.StdEncoding.EncodeToString([]byte(puller + ":" + pullerPassword)),
	}}})
	for _, ns := range []string{"pull", "aws", "azure", "gcp"} {
		create(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	create(ctx, t, c, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: "pull"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: dockerConfig},
	})
	sa := func(ns, name string, annotations map[string]string, pullSecrets ...string) *corev1.ServiceAccount {
		s := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: annotations}}
		for _, p := range pullSecrets {
			s.ImagePullSecrets = append(s.ImagePullSecrets, corev1.LocalObjectReference{Name: p})
		}
		return s
	}
	for _, s := range []*corev1.ServiceAccount{
		sa("pull", "puller", nil, "regcred"),
		sa("pull", "nosecret", nil, "missing"),
		sa("aws", "puller", map[string]string{AWSRoleARNAnnotation: aws.RoleARN}),
		sa("aws", "other", map[string]string{AWSRoleARNAnnotation: aws.RoleARN}),
		sa("aws", "bare", nil),
		sa("azure", "puller", map[string]string{AzureClientIDAnnotation: entra.ClientID, AzureTenantIDAnnotation: entra.TenantID}),
		sa("azure", "other", map[string]string{AzureClientIDAnnotation: entra.ClientID, AzureTenantIDAnnotation: entra.TenantID}),
		sa("azure", "bare", map[string]string{AzureTenantIDAnnotation: entra.TenantID}),
		sa("gcp", "puller", map[string]string{GCPServiceAccountAnnotation: google.ServiceAccount}),
		sa("gcp", "other", map[string]string{GCPServiceAccountAnnotation: google.ServiceAccount}),
	} {
		create(ctx, t, c, s)
	}

	hosts := map[string]string{
		"pull":  reg.Host,
		"aws":   "123456789012.dkr.ecr.us-east-1.amazonaws.com:" + port,
		"azure": "hoisttest.azurecr.io:" + port,
		"gcp":   "europe-docker.pkg.dev:" + port,
	}
	tests := []struct {
		namespace, serviceAccount string
		wantInMessage             []string // of Ready=False; none: the scan finds the tags
	}{
		{namespace: "pull", serviceAccount: "puller"},
		{namespace: "pull", serviceAccount: "nosecret", wantInMessage: []string{`image pull secret "missing" of ServiceAccount pull/nosecret not found`}},
		{namespace: "pull", serviceAccount: "absent", wantInMessage: []string{"ServiceAccount pull/absent not found"}},
		{namespace: "aws", serviceAccount: "puller"},
		{namespace: "aws", serviceAccount: "other", wantInMessage: []string{"ServiceAccount aws/other", "AccessDenied"}},
		{namespace: "aws", serviceAccount: "bare", wantInMessage: []string{"ServiceAccount aws/bare", AWSRoleARNAnnotation}},
		{namespace: "azure", serviceAccount: "puller"},
		{namespace: "azure", serviceAccount: "other", wantInMessage: []string{"ServiceAccount azure/other", "AADSTS700213"}},
		{namespace: "azure", serviceAccount: "bare", wantInMessage: []string{"ServiceAccount azure/bare", AzureClientIDAnnotation}},
		{namespace: "gcp", serviceAccount: "puller"},
		{namespace: "gcp", serviceAccount: "other", wantInMessage: []string{"ServiceAccount gcp/other", "iam.serviceAccounts.getAccessToken"}},
	}
	for _, tc := range tests {
		provider := tc.namespace
		if provider == "pull" {
			provider = registry.ProviderGeneric
		}
		name := tc.serviceAccount
		create(ctx, t, c, &v1alpha1.ImageRepository{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: tc.namespace},
			Spec: v1alpha1.ImageRepositorySpec{
				Image: hosts[tc.namespace] + "/team/app", Insecure: true, Provider: provider,
				ServiceAccountName: tc.serviceAccount, Interval: metav1.Duration{Duration: time.Hour},
			},
		})
		create(ctx, t, c, &v1alpha1.ImagePolicy{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: tc.namespace},
			Spec: v1alpha1.ImagePolicySpec{
				ImageRepositoryRef: v1alpha1.NamespacedObjectReference{Name: name},
				Policy:             v1alpha1.ImagePolicyChoice{SemVer: &v1alpha1.SemVerPolicy{Range: ">=1.0.0"}},
			},
		})
	}
	for _, tc := range tests {
		t.Run(tc.namespace+"/"+tc.serviceAccount, func(t *testing.T) {
			var repo v1alpha1.ImageRepository
			var cond *metav1.Condition
			waitFor(ctx, t, "the Ready condition of ImageRepository "+tc.namespace+"/"+tc.serviceAccount, func() bool {
				if c.Get(ctx, client.ObjectKey{Namespace: tc.namespace, Name: tc.serviceAccount}, &repo) != nil {
					return false
				}
				cond = apimeta.FindStatusCondition(repo.Status.Conditions, ReadyCondition)
				// A scan before the policy was published lists nothing:
				// wait for the one for the policy.
				return cond != nil && cond.Status != metav1.ConditionUnknown && cond.Message != NoPolicyMessage
			})
			if len(tc.wantInMessage) == 0 {
				if cond.Status != metav1.ConditionTrue || repo.Status.LastScanResult == nil || repo.Status.LastScanResult.TagCount != 2 {
					t.Fatalf("Ready = %s %q, lastScanResult %+v; want the two tags", cond.Status, cond.Message, repo.Status.LastScanResult)
				}
				var pol v1alpha1.ImagePolicy
				waitFor(ctx, t, "the policy's latestRef", func() bool {
					return c.Get(ctx, client.ObjectKey{Namespace: tc.namespace, Name: tc.serviceAccount}, &pol) == nil && pol.Status.LatestRef != nil
				})
				if pol.Status.LatestRef.Tag != "1.1.0" {
					t.Errorf("latestRef = %+v, want 1.1.0", pol.Status.LatestRef)
				}
				return
			}
			if cond.Status != metav1.ConditionFalse {
				t.Fatalf("Ready = %s %q, want False", cond.Status, cond.Message)
			}
			t.Logf("Ready=False: %s", cond.Message)
			for _, want := range tc.wantInMessage {
				if !strings.Contains(cond.Message, want) {
					t.Errorf("Ready message %q does not say %q", cond.Message, want)
				}
			}
		})
	}

	issued := append(append(append(aws.ECR.Issued(), aws.STS.Issued()...), entra.Tokens.Issued()...), entra.Refresh.Issued()...)
	issued = append(append(issued, google.Federated.Issued()...), google.Impersonated.Issued()...)
	for _, tok := range append(issued, pullerPassword) {
		if strings.Contains(logs.String(), tok) {
			t.Errorf("the logs carry a secret: %s", tok)
		}
	}
}

// TestServiceAccountTokenCache: a ServiceAccount's token is requested once
// per audience, and again only shortly before it expires (on the
// controller's clock).
func TestServiceAccountTokenCache(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver")
	}
	kube := testenv.StartKube(t, NewScheme(), filepath.Join("..", "config", "crd"))
	ctx := t.Context()
	create(ctx, t, kube.Client, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "puller", Namespace: "default"}})
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ids := newIdentities(kube.Client, kube.Client, kube.Client, clock)
	get := func(aud string) string {
		t.Helper()
		tok, err := ids.token(ctx, "default", "puller", aud)
		if err != nil {
			t.Fatal(err)
		}
		if sub, ok := kube.ServiceAccountSubject(aud)(tok); !ok || sub != "system:serviceaccount:default:puller" {
			t.Fatalf("the token for %s is not the ServiceAccount's: %q %t", aud, sub, ok)
		}
		return tok
	}
	first := get(registry.AWSIdentityAudience)
	if again := get(registry.AWSIdentityAudience); again != first {
		t.Error("a second token was requested before the first expired")
	}
	if other := get(registry.AzureIdentityAudience); other == first {
		t.Error("another audience got the same token")
	}
	mu.Lock()
	now = now.Add(serviceAccountTokenLifetime - serviceAccountTokenRefresh + time.Second)
	mu.Unlock()
	if renewed := get(registry.AWSIdentityAudience); renewed == first {
		t.Error("the token was not renewed shortly before it expired")
	}
}

func create(ctx context.Context, t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(ctx, obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// waitFor waits until cond holds; it reads the API server's objects (the
// status the controller writes is the signal).
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// startManager runs the controller in a manager on kube until the test
// ends.
func startManager(ctx context.Context, t *testing.T, kube *testenv.Kube, runner *automation.Runner, logger *slog.Logger) {
	t.Helper()
	t.Cleanup(runManager(ctx, t, kube, runner, logger))
}

// runManager runs the controller in a manager on kube until stop is
// called, which waits until the manager has stopped (a pod that is gone).
func runManager(ctx context.Context, t *testing.T, kube *testenv.Kube, runner *automation.Runner, logger *slog.Logger) (stop func()) {
	t.Helper()
	_, stop = runController(ctx, t, kube.Config, runner, logger)
	return stop
}

// startController runs the controller in a manager on cfg until the test
// ends, and returns it.
func startController(ctx context.Context, t *testing.T, cfg *rest.Config, runner *automation.Runner, logger *slog.Logger) *Controller {
	t.Helper()
	ctl, stop := runController(ctx, t, cfg, runner, logger)
	t.Cleanup(stop)
	return ctl
}

// runController runs the controller in a manager on cfg until stop is
// called, which waits until the manager has stopped.
func runController(ctx context.Context, t *testing.T, cfg *rest.Config, runner *automation.Runner, logger *slog.Logger) (ctl *Controller, stop func()) {
	t.Helper()
	skip := true // several managers per test: the reconcilers' names repeat
	mgr, err := manager.New(cfg, manager.Options{
		Scheme: NewScheme(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: crconfig.Controller{SkipNameValidation: &skip},
		Cache:      CacheOptions(cache.Options{}, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err = New(mgr, Options{
		Service: service.ServiceOptions{Runner: runner, Registry: prometheus.NewRegistry(), Logger: logger, StartupSpread: time.Millisecond},
		Logger:  logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	mctx, cancel := context.WithCancel(ctx)
	go func() { done <- mgr.Start(mctx) }()
	var once sync.Once
	return ctl, func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("manager: %v", err)
			}
		})
	}
}

// TestIdentityAnnotations: the cloud identity a ServiceAccount's
// annotations name, by provider, with Flux's annotation names; a missing
// or malformed annotation is an error naming it.
func TestIdentityAnnotations(t *testing.T) {
	const wip = "projects/123456/locations/global/workloadIdentityPools/k8s/providers/fleet"
	tests := map[string]struct {
		provider    string
		annotations map[string]string
		want        registry.CloudIdentity // but Token
		wantInError string
	}{
		"aws role": {
			provider:    registry.ProviderAWS,
			annotations: map[string]string{AWSRoleARNAnnotation: "arn:aws:iam::123456789012:role/puller"},
			want:        registry.CloudIdentity{AWSRoleARN: "arn:aws:iam::123456789012:role/puller"},
		},
		"aws without role": {provider: registry.ProviderAWS, wantInError: AWSRoleARNAnnotation},
		"azure application and tenant": {
			provider:    registry.ProviderAzure,
			annotations: map[string]string{AzureClientIDAnnotation: "app", AzureTenantIDAnnotation: "tenant"},
			want:        registry.CloudIdentity{AzureClientID: "app", AzureTenantID: "tenant"},
		},
		"azure without application":                 {provider: registry.ProviderAzure, annotations: map[string]string{AzureTenantIDAnnotation: "tenant"}, wantInError: AzureClientIDAnnotation},
		"gcp on GKE, the federated identity itself": {provider: registry.ProviderGCP},
		"gcp outside GKE, impersonating": {
			provider:    registry.ProviderGCP,
			annotations: map[string]string{GCPServiceAccountAnnotation: "puller@my-project.iam.gserviceaccount.com", GCPWorkloadIdentityProviderAnnotation: wip},
			want:        registry.CloudIdentity{GCPServiceAccount: "puller@my-project.iam.gserviceaccount.com", GCPWorkloadIdentityProvider: wip},
		},
		"gcp provider as a full resource name": {
			provider:    registry.ProviderGCP,
			annotations: map[string]string{GCPWorkloadIdentityProviderAnnotation: "//iam.googleapis.com/" + wip},
			want:        registry.CloudIdentity{GCPWorkloadIdentityProvider: "//iam.googleapis.com/" + wip},
		},
		"gcp provider of another form": {
			provider:    registry.ProviderGCP,
			annotations: map[string]string{GCPWorkloadIdentityProviderAnnotation: "projects/my-project/locations/global/workloadIdentityPools/k8s"},
			wantInError: GCPWorkloadIdentityProviderAnnotation,
		},
		"gcp service account that is not one": {
			provider:    registry.ProviderGCP,
			annotations: map[string]string{GCPServiceAccountAnnotation: "puller"},
			wantInError: GCPServiceAccountAnnotation,
		},
	}
	ids := newIdentities(nil, nil, nil, nil)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "puller", Namespace: "apps", Annotations: tc.annotations}}
			id, err := ids.identity(sa, tc.provider)
			if tc.wantInError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantInError) || !strings.Contains(err.Error(), "apps/puller") {
					t.Fatalf("identity error = %v, want one naming %s and the ServiceAccount", err, tc.wantInError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.Token == nil {
				t.Error("the identity has no Token")
			}
			got := *id
			got.Token = nil
			tc.want.Name = "ServiceAccount apps/puller"
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(registry.CloudIdentity{}, "Token")); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
		})
	}
}
