package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/compute/metadata"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"golang.org/x/oauth2/google/externalaccount"

	"github.com/hoist-dev/hoist/registry/cloudhost"
)

// ErrCloudLogin is returned (wrapped) when a cloud provider's identity
// cannot be turned into registry credentials: no identity found, the cloud
// refused it, or the registry's token exchange failed. The message carries
// the cloud's own error.
var ErrCloudLogin = errors.New("cloud registry login failed")

// The providers of Repo.Provider.
const (
	ProviderGeneric = cloudhost.Generic
	ProviderAWS     = cloudhost.AWS
	ProviderGCP     = cloudhost.GCP
	ProviderAzure   = cloudhost.Azure
)

// cloudRefreshBefore is how long before its expiry a cloud token is
// replaced: a scan never starts with a token about to lapse.
const cloudRefreshBefore = 5 * time.Minute

// The user names the clouds' registries expect with their tokens.
const (
	gcpTokenUser   = "oauth2accesstoken"
	azureTokenUser = "00000000-0000-0000-0000-000000000000"
	// azureScope is the Entra scope whose tokens ACR's /oauth2/exchange
	// accepts (Azure Resource Manager), as az acr login uses.
	azureScope = "https://management.azure.com/.default"
	gcpScope   = "https://www.googleapis.com/auth/cloud-platform"
)

// Audiences of the tokens a CloudIdentity is asked for, as EKS and AKS
// workload identity request them.
const (
	AWSIdentityAudience   = "sts.amazonaws.com"
	AzureIdentityAudience = "api://AzureADTokenExchange"
)

// CloudIdentity is a workload identity other than the process's own, such as
// a Kubernetes ServiceAccount's (an ImageRepository's serviceAccountName in
// the controller): its token is exchanged with the cloud as EKS (IRSA), AKS
// workload identity and GKE workload identity federation do.
type CloudIdentity struct {
	// Name identifies the identity in the token cache and in errors, for
	// example "NAMESPACE/SERVICEACCOUNT". Required.
	Name string
	// Token returns a fresh token of the identity for audience
	// (AWSIdentityAudience, AzureIdentityAudience, or Google's: the
	// workload identity pool PROJECT.svc.id.goog on GKE, else
	// //iam.googleapis.com/ + GCPWorkloadIdentityProvider), typically
	// from a Kubernetes TokenRequest. Required.
	Token func(ctx context.Context, audience string) (string, error)
	// AWSRoleARN is the IAM role assumed with the token (the
	// ServiceAccount's eks.amazonaws.com/role-arn).
	AWSRoleARN string
	// AzureClientID is the Entra application or managed identity federated
	// with the identity (azure.workload.identity/client-id); AzureTenantID
	// its tenant (azure.workload.identity/tenant-id; default
	// AZURE_TENANT_ID).
	AzureClientID, AzureTenantID string
	// GCPServiceAccount is the Google service account impersonated with
	// the federated token (iam.gke.io/gcp-service-account), through the IAM
	// Service Account Credentials API; "" uses the federated token itself
	// (the Kubernetes identity is then granted access as a principal).
	GCPServiceAccount string
	// GCPWorkloadIdentityProvider is the resource name of the workload
	// identity pool provider that trusts the cluster's token issuer
	// (projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER),
	// for clusters outside GKE; "" on GKE, where the cluster's pool and
	// name are read from the metadata server.
	GCPWorkloadIdentityProvider string
}

// Google's APIs for workload identity federation.
const (
	defaultGoogleSTS            = "https://sts.googleapis.com"
	defaultGoogleIAMCredentials = "https://iamcredentials.googleapis.com"
)

// googleAPIs are the base URLs of Google's Security Token Service and IAM
// Service Account Credentials API.
type googleAPIs struct {
	sts, iamCredentials string
}

// cloudToken is a registry credential minted from a cloud identity.
type cloudToken struct {
	user, password string
	expires        time.Time
}

// cloudAuth logs in to cloud registries with the identity of the process
// (workload identity, instance metadata, environment), caching each token
// until cloudRefreshBefore its expiry: per account and region for ECR, per
// registry for ACR, one for Google.
type cloudAuth struct {
	clock Clock
	// hc is the HTTP client of the clouds' identity endpoints; nil: each
	// SDK's default.
	hc     *http.Client
	google googleAPIs

	mu      sync.Mutex
	entries map[string]*cloudEntry
}

type cloudEntry struct {
	mu    sync.Mutex // held while a token is fetched: one fetch per key
	token cloudToken
}

func newCloudAuth(clock Clock, hc *http.Client, google googleAPIs) *cloudAuth {
	return &cloudAuth{clock: clock, hc: hc, google: google, entries: make(map[string]*cloudEntry)}
}

// authenticator returns the credentials of provider for ref's registry,
// with the process's identity or id; base is the transport to the registry
// (ACR's token exchange goes there).
func (a *cloudAuth) authenticator(ctx context.Context, provider string, id *CloudIdentity, ref name.Repository, base http.RoundTripper) (authn.Authenticator, error) {
	host := ref.RegistryStr()
	if err := cloudhost.Check(provider, host); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCloudLogin, err)
	}
	idKey := ""
	if id != nil {
		if id.Name == "" || id.Token == nil {
			return nil, fmt.Errorf("%w: %s login for %s: the workload identity needs a name and a token source", ErrCloudLogin, provider, host)
		}
		idKey = "/" + strings.Join([]string{id.Name, id.AWSRoleARN, id.AzureClientID, id.AzureTenantID, id.GCPServiceAccount, id.GCPWorkloadIdentityProvider}, "/")
	}
	var key string
	var fetch func(context.Context) (cloudToken, error)
	switch provider {
	case ProviderAWS:
		e, _ := cloudhost.ParseECR(host)
		key = "aws/" + e.Account + "/" + e.Region + idKey
		fetch = func(ctx context.Context) (cloudToken, error) { return a.ecrToken(ctx, e, id) }
	case ProviderGCP:
		key = "gcp" + idKey
		fetch = a.gcpToken
		if id != nil {
			fetch = func(ctx context.Context) (cloudToken, error) { return a.gcpIdentityToken(ctx, id) }
		}
	case ProviderAzure:
		key = "azure/" + host + idKey
		fetch = func(ctx context.Context) (cloudToken, error) { return a.acrToken(ctx, ref.Registry, base, id) }
	default:
		return nil, fmt.Errorf("%w: unknown provider %q", ErrCloudLogin, provider)
	}
	tok, err := a.token(ctx, key, fetch)
	if err != nil {
		as := ""
		if id != nil {
			as = " as " + id.Name
		}
		return nil, fmt.Errorf("%w: %s login for %s%s: %w", ErrCloudLogin, provider, host, as, err)
	}
	return authn.FromConfig(authn.AuthConfig{Username: tok.user, Password: tok.password}), nil
}

// token returns the cached token of key, fetching a new one when there is
// none or it expires within cloudRefreshBefore.
func (a *cloudAuth) token(ctx context.Context, key string, fetch func(context.Context) (cloudToken, error)) (cloudToken, error) {
	a.mu.Lock()
	e, ok := a.entries[key]
	if !ok {
		e = &cloudEntry{}
		a.entries[key] = e
	}
	a.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.token.password != "" && a.clock.Now().Before(e.token.expires.Add(-cloudRefreshBefore)) {
		return e.token, nil
	}
	tok, err := fetch(ctx)
	if err != nil {
		return cloudToken{}, err
	}
	e.token = tok
	return tok, nil
}

// ecrToken calls ECR's GetAuthorizationToken in the registry's region with
// the default AWS credential chain (environment, shared config, web
// identity / IRSA, EKS Pod Identity, instance metadata). The endpoint
// follows AWS_ENDPOINT_URL_ECR when set, as every AWS SDK does.
func (a *cloudAuth) ecrToken(ctx context.Context, e cloudhost.ECR, id *CloudIdentity) (cloudToken, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(e.Region)}
	if a.hc != nil {
		opts = append(opts, awsconfig.WithHTTPClient(a.hc))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cloudToken{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if id != nil {
		if id.AWSRoleARN == "" {
			return cloudToken{}, fmt.Errorf("the identity %s names no IAM role (eks.amazonaws.com/role-arn)", id.Name)
		}
		// IRSA with the identity's token instead of the pod's file.
		retriever := identityToken{ctx: ctx, id: id}
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewWebIdentityRoleProvider(sts.NewFromConfig(cfg), id.AWSRoleARN, retriever))
	}
	out, err := ecr.NewFromConfig(cfg).GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return cloudToken{}, err
	}
	if len(out.AuthorizationData) == 0 || out.AuthorizationData[0].AuthorizationToken == nil {
		return cloudToken{}, errors.New("ECR GetAuthorizationToken returned no authorization data")
	}
	d := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(d.AuthorizationToken))
	if err != nil {
		return cloudToken{}, errors.New("ECR authorization token is not base64")
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return cloudToken{}, errors.New("ECR authorization token is not user:password")
	}
	exp := a.clock.Now().Add(12 * time.Hour) // ECR's documented lifetime
	if d.ExpiresAt != nil {
		exp = *d.ExpiresAt
	}
	return cloudToken{user: user, password: pass, expires: exp}, nil
}

// identityToken adapts a CloudIdentity to the AWS SDK's token retriever,
// which takes no context: it is built per call with the call's.
type identityToken struct {
	ctx context.Context //nolint:containedctx // the SDK's interface has no context; this value lives for one call
	id  *CloudIdentity
}

func (t identityToken) GetIdentityToken() ([]byte, error) {
	tok, err := t.id.Token(t.ctx, AWSIdentityAudience)
	if err != nil {
		return nil, fmt.Errorf("token of %s: %w", t.id.Name, err)
	}
	return []byte(tok), nil
}

// gcpToken gets an OAuth2 access token of the workload's Google identity:
// from Application Default Credentials when GOOGLE_APPLICATION_CREDENTIALS
// names a file, else from the metadata server (GCE, GKE workload identity;
// GCE_METADATA_HOST moves it), else from gcloud's ADC file.
func (a *cloudAuth) gcpToken(ctx context.Context) (cloudToken, error) {
	if os.Getenv("GOOGLE_APPLICATION_CREDENTIALS") == "" {
		mc := metadata.NewClient(a.hc)
		if mc.OnGCEWithContext(ctx) {
			return a.gcpMetadataToken(ctx, mc)
		}
	}
	creds, err := google.FindDefaultCredentials(ctx, gcpScope)
	if err != nil {
		return cloudToken{}, err
	}
	t, err := creds.TokenSource.Token()
	if err != nil {
		return cloudToken{}, err
	}
	exp := t.Expiry
	if exp.IsZero() {
		exp = a.clock.Now().Add(time.Hour)
	}
	return cloudToken{user: gcpTokenUser, password: t.AccessToken, expires: exp}, nil
}

func (a *cloudAuth) gcpMetadataToken(ctx context.Context, mc *metadata.Client) (cloudToken, error) {
	body, err := mc.GetWithContext(ctx, "instance/service-accounts/default/token")
	if err != nil {
		return cloudToken{}, fmt.Errorf("metadata server token: %w", err)
	}
	var t struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal([]byte(body), &t); err != nil || t.AccessToken == "" {
		return cloudToken{}, errors.New("metadata server token: answer has no access_token")
	}
	return cloudToken{
		user:     gcpTokenUser,
		password: t.AccessToken,
		expires:  a.clock.Now().Add(time.Duration(t.ExpiresIn) * time.Second),
	}, nil
}

// gcpIdentityToken exchanges id's token at Google's Security Token Service
// for a federated access token (workload identity federation), then, when
// id names a Google service account, for that account's access token
// (generateAccessToken of the IAM Service Account Credentials API), as GKE
// workload identity does. golang.org/x/oauth2/google/externalaccount, the
// Google SDK's own client of both, does the exchange.
func (a *cloudAuth) gcpIdentityToken(ctx context.Context, id *CloudIdentity) (cloudToken, error) {
	tokenAudience, stsAudience, err := a.gcpAudiences(ctx, id)
	if err != nil {
		return cloudToken{}, err
	}
	conf := externalaccount.Config{
		Audience:             stsAudience,
		SubjectTokenType:     "urn:ietf:params:oauth:token-type:jwt",
		TokenURL:             a.google.sts + "/v1/token",
		Scopes:               []string{gcpScope},
		SubjectTokenSupplier: gcpSubjectToken{id: id, audience: tokenAudience},
	}
	if sa := id.GCPServiceAccount; sa != "" {
		conf.ServiceAccountImpersonationURL = a.google.iamCredentials + "/v1/projects/-/serviceAccounts/" + url.PathEscape(sa) + ":generateAccessToken"
	}
	if a.hc != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, a.hc)
	}
	ts, err := externalaccount.NewTokenSource(ctx, conf)
	if err != nil {
		return cloudToken{}, err
	}
	t, err := ts.Token()
	if err != nil {
		return cloudToken{}, err
	}
	exp := t.Expiry
	if exp.IsZero() {
		exp = a.clock.Now().Add(time.Hour)
	}
	return cloudToken{user: gcpTokenUser, password: t.AccessToken, expires: exp}, nil
}

// gcpAudiences are the audience of id's token and the audience of the
// exchange at Google's STS: the workload identity provider's, else GKE's
// (the cluster's pool and resource name, from the metadata server).
func (a *cloudAuth) gcpAudiences(ctx context.Context, id *CloudIdentity) (token, sts string, err error) {
	if p := strings.TrimPrefix(id.GCPWorkloadIdentityProvider, "//iam.googleapis.com/"); p != "" {
		// The provider's full resource name, which Google accepts with or
		// without "https:" when the provider lists no audiences; without,
		// as Flux asks for it (fluxcd/pkg auth/gcp), so that a provider
		// whose allowed audiences were set for Flux accepts hoist's.
		return "//iam.googleapis.com/" + p, "//iam.googleapis.com/" + p, nil
	}
	mc := metadata.NewClient(a.hc)
	var vals [3]string
	for i, k := range []string{"project/project-id", "instance/attributes/cluster-location", "instance/attributes/cluster-name"} {
		v, err := mc.GetWithContext(ctx, k)
		if err != nil {
			return "", "", fmt.Errorf("the GKE cluster's workload identity pool (metadata %s): %w; outside GKE, name a workload identity provider", k, err)
		}
		vals[i] = strings.TrimSpace(v)
	}
	project, location, cluster := vals[0], vals[1], vals[2]
	pool := project + ".svc.id.goog"
	return pool, fmt.Sprintf("identitynamespace:%s:https://container.googleapis.com/v1/projects/%s/locations/%s/clusters/%s", pool, project, location, cluster), nil
}

// gcpSubjectToken supplies id's token to the STS exchange.
type gcpSubjectToken struct {
	id       *CloudIdentity
	audience string
}

func (s gcpSubjectToken) SubjectToken(ctx context.Context, _ externalaccount.SupplierOptions) (string, error) {
	tok, err := s.id.Token(ctx, s.audience)
	if err != nil {
		return "", fmt.Errorf("token of %s: %w", s.id.Name, err)
	}
	return tok, nil
}

// acrToken gets a Microsoft Entra token with azidentity's default chain
// (environment, workload identity, managed identity, Azure CLI;
// AZURE_TOKEN_CREDENTIALS narrows it, AZURE_AUTHORITY_HOST moves it) and
// exchanges it at the registry's /oauth2/exchange for an ACR refresh
// token, which the registry's token service then accepts as a password.
func (a *cloudAuth) acrToken(ctx context.Context, reg name.Registry, base http.RoundTripper, id *CloudIdentity) (cloudToken, error) {
	var copts azcore.ClientOptions
	if a.hc != nil {
		copts.Transport = a.hc
	}
	// Instance discovery asks login.microsoftonline.com about any authority
	// it does not know; a moved authority (a sovereign or private cloud)
	// answers for itself.
	disco := os.Getenv("AZURE_AUTHORITY_HOST") != ""
	var cred azcore.TokenCredential
	var err error
	if id != nil {
		tenant := id.AzureTenantID
		if tenant == "" {
			tenant = os.Getenv("AZURE_TENANT_ID")
		}
		if id.AzureClientID == "" || tenant == "" {
			return cloudToken{}, fmt.Errorf("the identity %s names no Entra client and tenant (azure.workload.identity/client-id, tenant-id)", id.Name)
		}
		if h := os.Getenv("AZURE_AUTHORITY_HOST"); h != "" {
			copts.Cloud.ActiveDirectoryAuthorityHost = h
		}
		assertion := func(ctx context.Context) (string, error) { return id.Token(ctx, AzureIdentityAudience) }
		cred, err = azidentity.NewClientAssertionCredential(tenant, id.AzureClientID, assertion,
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: disco})
	} else {
		cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: disco})
	}
	if err != nil {
		return cloudToken{}, err
	}
	at, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{azureScope}})
	if err != nil {
		return cloudToken{}, err
	}
	refresh, err := acrExchange(ctx, reg, base, at.Token)
	if err != nil {
		return cloudToken{}, err
	}
	exp := jwtExpiry(refresh)
	if exp.IsZero() {
		exp = at.ExpiresOn
	}
	return cloudToken{user: azureTokenUser, password: refresh, expires: exp}, nil
}

// acrExchange trades an Entra access token for an ACR refresh token:
// POST /oauth2/exchange with grant_type=access_token (ACR's documented
// token exchange).
func acrExchange(ctx context.Context, reg name.Registry, base http.RoundTripper, accessToken string) (string, error) {
	u := url.URL{Scheme: reg.Scheme(), Host: reg.RegistryStr(), Path: "/oauth2/exchange"}
	form := url.Values{
		"grant_type":   {"access_token"},
		"service":      {reg.RegistryStr()},
		"access_token": {accessToken},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := (&http.Client{Transport: base, CheckRedirect: noRedirect}).Do(req)
	if err != nil {
		return "", fmt.Errorf("ACR token exchange: %w", cleanError(err))
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", fmt.Errorf("ACR token exchange: reading answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("ACR token exchange: %w", newHTTPError(req, resp.StatusCode, body))
	}
	var out struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.RefreshToken == "" {
		return "", errors.New("ACR token exchange: answer has no refresh_token")
	}
	return out.RefreshToken, nil
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// jwtExpiry reads the exp claim of a JWT without verifying it (the token is
// ours to present, not to trust); zero when it has none.
func jwtExpiry(tok string) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}
	}
	var c struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(payload, &c) != nil || c.Exp == 0 {
		return time.Time{}
	}
	return time.Unix(c.Exp, 0)
}
