package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/registry"
)

// Annotations of a ServiceAccount that name its cloud identity, as EKS,
// AKS and GKE (and Flux) read them.
const (
	// AWSRoleARNAnnotation is the IAM role assumed with the
	// ServiceAccount's token (IRSA).
	AWSRoleARNAnnotation = "eks.amazonaws.com/role-arn"
	// AzureClientIDAnnotation is the Entra application or managed identity
	// federated with the ServiceAccount.
	AzureClientIDAnnotation = "azure.workload.identity/client-id"
	// AzureTenantIDAnnotation is its tenant; default AZURE_TENANT_ID.
	AzureTenantIDAnnotation = "azure.workload.identity/tenant-id"
	// GCPServiceAccountAnnotation is the Google service account
	// impersonated; without it the federated identity itself is used.
	GCPServiceAccountAnnotation = "iam.gke.io/gcp-service-account"
	// GCPWorkloadIdentityProviderAnnotation is the workload identity pool
	// provider that trusts the cluster (projects/NUMBER/locations/global/
	// workloadIdentityPools/POOL/providers/PROVIDER), outside GKE: Flux's
	// annotation (fluxcd/pkg auth/gcp), as Google defines none.
	GCPWorkloadIdentityProviderAnnotation = "gcp.auth.fluxcd.io/workload-identity-provider"
)

// The forms of the GCP annotations' values, as Flux checks them
// (fluxcd/pkg auth/gcp): a value of another form is an error naming the
// annotation, not a request Google refuses.
var (
	gcpServiceAccountPattern           = regexp.MustCompile(`^[a-zA-Z0-9-]{1,100}@[a-zA-Z0-9-]{1,100}\.iam\.gserviceaccount\.com$`)
	gcpWorkloadIdentityProviderPattern = regexp.MustCompile(`^projects/\d{1,30}/locations/global/workloadIdentityPools/[^/]{1,100}/providers/[^/]{1,100}$`)
)

// serviceAccountTokenLifetime is what a TokenRequest asks for; a token is
// requested again serviceAccountTokenRefresh before it expires.
const (
	serviceAccountTokenLifetime = time.Hour
	serviceAccountTokenRefresh  = 5 * time.Minute
)

// identities gives an ImageRepository the credentials of its
// serviceAccountName: the ServiceAccount's image pull secrets with provider
// generic, else its cloud identity, whose tokens come from the API
// server's TokenRequest and are kept per ServiceAccount and audience until
// shortly before they expire.
//
// A scan reads nothing from the API server but a token: ServiceAccounts
// and the metadata of Secrets come from the manager's cache (its watches),
// and an image pull secret's value is read from the API server only when
// its resourceVersion in the cache is not the one read last (hoist watches
// no Secret's value).
type identities struct {
	// watched reads ServiceAccounts and the metadata of Secrets from the
	// manager's cache; api reads an image pull secret's value from the
	// API server; tokens creates TokenRequests.
	watched client.Reader
	api     client.Reader
	tokens  client.Client
	now     func() time.Time

	mu    sync.Mutex
	cache map[tokenKey]*saToken
	// pulls are the image pull secrets read, by namespace and name.
	pulls map[types.NamespacedName]pullSecret
}

type tokenKey struct{ namespace, name, audience string }

type saToken struct {
	mu      sync.Mutex // held while a token is requested: one request per key
	token   string
	expires time.Time
}

// pullSecret is what an image pull secret of one resourceVersion gives: its
// keychain, or why it gives none (an error that carries no value of it).
type pullSecret struct {
	version  string
	keychain authn.Keychain
	problem  error
}

func newIdentities(watched, api client.Reader, tokens client.Client, now func() time.Time) *identities {
	if now == nil {
		now = time.Now
	}
	return &identities{watched: watched, api: api, tokens: tokens, now: now, cache: map[tokenKey]*saToken{}, pulls: map[types.NamespacedName]pullSecret{}}
}

// credentials is the automation.Scanner's Credentials hook.
func (ids *identities) credentials(ctx context.Context, r *v1alpha1.ImageRepository, repo *registry.Repo) error {
	if r.Spec.ServiceAccountName == "" {
		return nil
	}
	key := types.NamespacedName{Namespace: r.Namespace, Name: r.Spec.ServiceAccountName}
	var sa corev1.ServiceAccount
	if err := ids.watched.Get(ctx, key, &sa); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("spec.serviceAccountName: ServiceAccount %s not found", key)
		}
		return fmt.Errorf("reading ServiceAccount %s: %w", key, err)
	}
	switch r.Spec.Provider {
	case "", registry.ProviderGeneric:
		kc, err := ids.pullSecrets(ctx, &sa)
		if err != nil {
			return err
		}
		if repo.Keychain != nil {
			kc = authn.NewMultiKeychain(repo.Keychain, kc) // secretRef first, as in Flux
		}
		repo.Keychain = kc
		return nil
	}
	id, err := ids.identity(&sa, r.Spec.Provider)
	if err != nil {
		return err
	}
	repo.Identity = id
	return nil
}

// pullSecrets is the keychain of sa's imagePullSecrets, in their order:
// kubernetes.io/dockerconfigjson Secrets, or the legacy
// kubernetes.io/dockercfg.
func (ids *identities) pullSecrets(ctx context.Context, sa *corev1.ServiceAccount) (authn.Keychain, error) {
	var kcs []authn.Keychain
	for _, ref := range sa.ImagePullSecrets {
		key := types.NamespacedName{Namespace: sa.Namespace, Name: ref.Name}
		p, err := ids.pullSecret(ctx, key)
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("image pull secret %q of ServiceAccount %s/%s not found", ref.Name, sa.Namespace, sa.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("reading image pull secret %q of ServiceAccount %s/%s: %w", ref.Name, sa.Namespace, sa.Name, err)
		}
		if p.problem != nil {
			return nil, fmt.Errorf("image pull secret %q of ServiceAccount %s/%s: %w", ref.Name, sa.Namespace, sa.Name, p.problem)
		}
		kcs = append(kcs, p.keychain)
	}
	return authn.NewMultiKeychain(kcs...), nil
}

// pullSecret is the image pull secret key: the one kept while its
// resourceVersion in the cache of Secrets' metadata is the one read, else
// read again from the API server. A Secret that is gone is forgotten.
func (ids *identities) pullSecret(ctx context.Context, key types.NamespacedName) (pullSecret, error) {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := ids.watched.Get(ctx, key, m); err != nil {
		if apierrors.IsNotFound(err) {
			ids.mu.Lock()
			delete(ids.pulls, key)
			ids.mu.Unlock()
		}
		return pullSecret{}, err
	}
	ids.mu.Lock()
	p, ok := ids.pulls[key]
	ids.mu.Unlock()
	if ok && p.version == m.ResourceVersion {
		return p, nil
	}
	var sec corev1.Secret
	if err := ids.api.Get(ctx, key, &sec); err != nil {
		return pullSecret{}, err
	}
	p = pullSecret{version: sec.ResourceVersion}
	p.keychain, p.problem = pullSecretKeychain(&sec)
	ids.mu.Lock()
	ids.pulls[key] = p
	ids.mu.Unlock()
	return p, nil
}

// pullSecretKeychain is the keychain of an image pull secret's
// .dockerconfigjson, or of its legacy .dockercfg.
func pullSecretKeychain(sec *corev1.Secret) (authn.Keychain, error) {
	data, ok := sec.Data[corev1.DockerConfigJsonKey]
	if !ok {
		legacy, ok := sec.Data[corev1.DockerConfigKey]
		if !ok {
			return nil, fmt.Errorf("it has neither %s nor %s", corev1.DockerConfigJsonKey, corev1.DockerConfigKey)
		}
		var err error
		if data, err = json.Marshal(map[string]json.RawMessage{"auths": legacy}); err != nil {
			return nil, fmt.Errorf("%s: %w", corev1.DockerConfigKey, registry.ErrDockerConfig)
		}
	}
	return registry.ParseDockerConfig(data)
}

// identity is sa's cloud identity for provider, from its annotations.
func (ids *identities) identity(sa *corev1.ServiceAccount, provider string) (*registry.CloudIdentity, error) {
	ns, name := sa.Namespace, sa.Name
	id := &registry.CloudIdentity{
		Name: "ServiceAccount " + ns + "/" + name,
		Token: func(ctx context.Context, audience string) (string, error) {
			return ids.token(ctx, ns, name, audience)
		},
	}
	ann := sa.Annotations
	missing := func(a string) error {
		return fmt.Errorf("ServiceAccount %s/%s has no annotation %s, which provider %s needs to select its identity", ns, name, a, provider)
	}
	switch provider {
	case registry.ProviderAWS:
		if id.AWSRoleARN = ann[AWSRoleARNAnnotation]; id.AWSRoleARN == "" {
			return nil, missing(AWSRoleARNAnnotation)
		}
	case registry.ProviderAzure:
		if id.AzureClientID = ann[AzureClientIDAnnotation]; id.AzureClientID == "" {
			return nil, missing(AzureClientIDAnnotation)
		}
		id.AzureTenantID = ann[AzureTenantIDAnnotation]
	case registry.ProviderGCP:
		id.GCPServiceAccount = ann[GCPServiceAccountAnnotation]
		if sa := id.GCPServiceAccount; sa != "" && !gcpServiceAccountPattern.MatchString(sa) {
			return nil, fmt.Errorf("ServiceAccount %s/%s: annotation %s %q: want a Google service account, NAME@PROJECT.iam.gserviceaccount.com", ns, name, GCPServiceAccountAnnotation, sa)
		}
		id.GCPWorkloadIdentityProvider = ann[GCPWorkloadIdentityProviderAnnotation]
		if p := id.GCPWorkloadIdentityProvider; p != "" && !gcpWorkloadIdentityProviderPattern.MatchString(strings.TrimPrefix(p, "//iam.googleapis.com/")) {
			return nil, fmt.Errorf("ServiceAccount %s/%s: annotation %s %q: want projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER", ns, name, GCPWorkloadIdentityProviderAnnotation, p)
		}
	default:
		return nil, fmt.Errorf("spec.provider: unknown provider %q", provider)
	}
	return id, nil
}

// token returns a token of ServiceAccount namespace/name for audience,
// requesting one when there is none or it expires within
// serviceAccountTokenRefresh.
func (ids *identities) token(ctx context.Context, namespace, name, audience string) (string, error) {
	k := tokenKey{namespace, name, audience}
	ids.mu.Lock()
	e, ok := ids.cache[k]
	if !ok {
		e = &saToken{}
		ids.cache[k] = e
	}
	ids.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.token != "" && ids.now().Before(e.expires.Add(-serviceAccountTokenRefresh)) {
		return e.token, nil
	}
	secs := int64(serviceAccountTokenLifetime / time.Second)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         []string{audience},
		ExpirationSeconds: &secs,
	}}
	sa := &corev1.ServiceAccount{}
	sa.Namespace, sa.Name = namespace, name
	if err := ids.tokens.SubResource("token").Create(ctx, sa, tr); err != nil {
		return "", fmt.Errorf("requesting a token of ServiceAccount %s/%s for audience %s: %w", namespace, name, audience, err)
	}
	// Dated on the controller's clock, with the lifetime granted (the API
	// server may shorten what was asked).
	lifetime := time.Until(tr.Status.ExpirationTimestamp.Time)
	if tr.Spec.ExpirationSeconds != nil {
		lifetime = time.Duration(*tr.Spec.ExpirationSeconds) * time.Second
	}
	e.token, e.expires = tr.Status.Token, ids.now().Add(lifetime)
	return e.token, nil
}
