package testenv

// Fakes of the clouds' identity endpoints. No cloud can be reached from
// the tests, so each fake answers on 127.0.0.1 as the real endpoint does,
// following the cloud's published API reference (request and answer shapes,
// error codes and messages); the SDKs are pointed at them with their own
// environment variables (AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL_STS,
// GCE_METADATA_HOST, AZURE_AUTHORITY_HOST). They check the caller's identity
// as far as the protocol shows it, not signatures.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// issuedTokens records the tokens a fake issued, for a registry's Accept.
type issuedTokens struct {
	mu     sync.Mutex
	n      int
	tokens map[string]bool
	calls  int
}

func (it *issuedTokens) issue(prefix string) string {
	it.mu.Lock()
	defer it.mu.Unlock()
	it.n++
	tok := fmt.Sprintf("%s-%d-%s", prefix, it.n, registryRandomHexNoT(8))
	if it.tokens == nil {
		it.tokens = make(map[string]bool)
	}
	it.tokens[tok] = true
	return tok
}

func (it *issuedTokens) has(tok string) bool {
	it.mu.Lock()
	defer it.mu.Unlock()
	return it.tokens[tok]
}

func (it *issuedTokens) call() {
	it.mu.Lock()
	it.calls++
	it.mu.Unlock()
}

// Issued lists the tokens issued so far, for tests that check no log line
// carries one.
func (it *issuedTokens) Issued() []string {
	it.mu.Lock()
	defer it.mu.Unlock()
	out := make([]string, 0, len(it.tokens))
	for t := range it.tokens {
		out = append(out, t)
	}
	return out
}

// Calls counts the requests that asked for a token, granted or refused.
func (it *issuedTokens) Calls() int {
	it.mu.Lock()
	defer it.mu.Unlock()
	return it.calls
}

func registryRandomHexNoT(n int) string {
	return fmt.Sprintf("%x", tokenRandomBytes(n))
}

// FakeAWS answers as Amazon ECR's GetAuthorizationToken (JSON 1.1 protocol,
// X-Amz-Target AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken)
// and STS's AssumeRoleWithWebIdentity (query protocol, XML answer), per
// the ECR and STS API references. ECR accepts requests signed with
// AccessKeyID (the SigV4 credential scope is read, the signature is not
// checked); STS trades WebIdentityToken for RoleARN into AccessKeyID.
type FakeAWS struct {
	// URL is "http://127.0.0.1:PORT", for AWS_ENDPOINT_URL_ECR and
	// AWS_ENDPOINT_URL_STS.
	URL string
	// AccessKeyID is the key ECR accepts; STS issues it.
	AccessKeyID string
	// RoleARN and WebIdentityToken are what STS accepts.
	RoleARN, WebIdentityToken string
	// WebIdentity, when set, decides instead which web identity tokens
	// STS accepts for a role (the role's trust policy), for tokens the
	// test cannot know in advance, such as a Kubernetes TokenRequest's.
	WebIdentity func(roleARN, token string) bool

	now func() time.Time
	// ECR counts GetAuthorizationToken calls and records its passwords.
	ECR issuedTokens
	// STS counts AssumeRoleWithWebIdentity calls.
	STS issuedTokens
}

// NewFakeAWS starts the fake; now is the clock of the tokens' expiry.
func NewFakeAWS(t testing.TB, now func() time.Time) *FakeAWS {
	f := &FakeAWS{
		AccessKeyID:      "ASIAHOISTTEST" + strings.ToUpper(registryRandomHexNoT(4)),
		RoleARN:          "arn:aws:iam::123456789012:role/hoist",
		WebIdentityToken: "projected-sa-token-" + registryRandomHexNoT(8),
		now:              now,
	}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// Accept reports whether user and password are ECR credentials it issued.
func (f *FakeAWS) Accept(user, password string) bool {
	return user == "AWS" && f.ECR.has(password)
}

func (f *FakeAWS) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".GetAuthorizationToken") {
		f.ecr(w, r)
		return
	}
	if err := r.ParseForm(); err == nil && r.PostForm.Get("Action") == "AssumeRoleWithWebIdentity" {
		f.sts(w, r)
		return
	}
	http.Error(w, "unknown operation", http.StatusBadRequest)
}

func (f *FakeAWS) ecr(w http.ResponseWriter, r *http.Request) {
	f.ECR.call()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	// Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/ecr/aws4_request, ...
	_, cred, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	akid, _, _ := strings.Cut(cred, "/")
	if akid != f.AccessKeyID {
		w.Header().Set("X-Amzn-ErrorType", "UnrecognizedClientException")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}`))
		return
	}
	pw := f.ECR.issue("ecr")
	_ = json.NewEncoder(w).Encode(map[string]any{"authorizationData": []map[string]any{{
		"authorizationToken": base64.StdEncoding.EncodeToString([]byte("AWS:" + pw)),
		"expiresAt":          float64(f.now().Add(12 * time.Hour).Unix()),
		"proxyEndpoint":      "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
	}}})
}

func (f *FakeAWS) sts(w http.ResponseWriter, r *http.Request) {
	f.STS.call()
	w.Header().Set("Content-Type", "text/xml")
	ok := r.PostForm.Get("WebIdentityToken") == f.WebIdentityToken && r.PostForm.Get("RoleArn") == f.RoleARN
	if f.WebIdentity != nil {
		ok = f.WebIdentity(r.PostForm.Get("RoleArn"), r.PostForm.Get("WebIdentityToken"))
	}
	if !ok {
		w.WriteHeader(http.StatusForbidden)
		_, _ = fmt.Fprint(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>`)
		return
	}
	secret := f.STS.issue("sts-secret")
	_, _ = fmt.Fprintf(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:hoist-system:hoist</SubjectFromWebIdentityToken>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/hoist/hoist</Arn><AssumedRoleId>AROACLKWSDQRAOEXAMPLE:hoist</AssumedRoleId></AssumedRoleUser>
    <Credentials>
      <AccessKeyId>%s</AccessKeyId>
      <SecretAccessKey>%s</SecretAccessKey>
      <SessionToken>%s</SessionToken>
      <Expiration>%s</Expiration>
    </Credentials>
    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE</Provider>
    <Audience>sts.amazonaws.com</Audience>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`, f.AccessKeyID, secret, "session-"+secret, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
}

// FakeGCEMetadata answers as the GCE / GKE metadata server's
// instance/service-accounts/default/token (per Google's metadata server
// reference: Metadata-Flavor: Google required, JSON access_token,
// expires_in, token_type). With Unbound set it answers as GKE's metadata
// server does for a Kubernetes service account without a Google service
// account.
type FakeGCEMetadata struct {
	// Host is "127.0.0.1:PORT", for GCE_METADATA_HOST.
	Host string
	// Unbound makes the token request fail as for an unbound identity.
	Unbound bool
	// ProjectID, ClusterLocation and ClusterName are what a GKE node's
	// metadata server says of its project and cluster
	// (project/project-id, instance/attributes/cluster-location and
	// cluster-name); "" answers 404 as outside GKE.
	ProjectID, ClusterLocation, ClusterName string
	// Tokens counts token requests and records the tokens.
	Tokens issuedTokens
}

// NewFakeGCEMetadata starts the fake.
func NewFakeGCEMetadata(t testing.TB) *FakeGCEMetadata {
	f := &FakeGCEMetadata{}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.Host = strings.TrimPrefix(srv.URL, "http://")
	return f
}

// Accept reports whether user and password are Google credentials it
// issued, as Artifact Registry accepts them.
func (f *FakeGCEMetadata) Accept(user, password string) bool {
	return user == "oauth2accesstoken" && f.Tokens.has(password)
}

func (f *FakeGCEMetadata) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Metadata-Flavor") != "Google" {
		http.Error(w, "Missing Metadata-Flavor:Google header.", http.StatusForbidden)
		return
	}
	attrs := map[string]string{
		"/computeMetadata/v1/project/project-id":                   f.ProjectID,
		"/computeMetadata/v1/instance/attributes/cluster-location": f.ClusterLocation,
		"/computeMetadata/v1/instance/attributes/cluster-name":     f.ClusterName,
	}
	if v, ok := attrs[r.URL.Path]; ok && v != "" {
		w.Header().Set("Content-Type", "application/text")
		w.Header().Set("Metadata-Flavor", "Google")
		_, _ = w.Write([]byte(v))
		return
	}
	if r.URL.Path != "/computeMetadata/v1/instance/service-accounts/default/token" {
		http.NotFound(w, r)
		return
	}
	f.Tokens.call()
	if f.Unbound {
		http.Error(w, "Your Kubernetes service account (hoist-system/hoist) is not annotated with a target Google service account, which is a requirement for retrieving Identity Tokens using Workload Identity.", http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Metadata-Flavor", "Google")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": f.Tokens.issue("ya29.gcp"), "expires_in": 3599, "token_type": "Bearer",
	})
}

// FakeEntra answers as Microsoft Entra ID's token endpoint for workload
// identity federation (client credentials with a client_assertion, per the
// Microsoft identity platform reference), with the OpenID configuration MSAL
// reads first. It serves HTTPS (Entra authorities must be https); trust
// CACert. It also plays ACR's POST /oauth2/exchange (per ACR's token
// exchange reference) as a FaultAction on a test registry: ACRExchange.
type FakeEntra struct {
	// URL is "https://127.0.0.1:PORT", for AZURE_AUTHORITY_HOST.
	URL string
	// TenantID, ClientID and FederatedToken are what it accepts.
	TenantID, ClientID, FederatedToken string
	// Assertion, when set, decides instead which client assertions it
	// accepts for a client (the application's federated credentials).
	Assertion func(clientID, assertion string) bool
	// Client trusts the fake's certificate.
	Client *http.Client
	// Tokens counts token requests and records the Entra access tokens;
	// Refresh records the ACR refresh tokens of the exchange.
	Tokens, Refresh issuedTokens

	now func() time.Time
}

// NewFakeEntra starts the fake; now is the clock of the refresh tokens'
// expiry.
func NewFakeEntra(t testing.TB, now func() time.Time) *FakeEntra {
	f := &FakeEntra{
		TenantID:       "72f988bf-86f1-41af-91ab-2d7cd011db47",
		ClientID:       "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
		FederatedToken: "projected-sa-token-" + registryRandomHexNoT(8),
		now:            now,
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	f.Client = srv.Client()
	return f
}

// Accept reports whether user and password are ACR credentials the
// exchange issued (ACR's null-GUID user with a refresh token).
func (f *FakeEntra) Accept(user, password string) bool {
	return user == "00000000-0000-0000-0000-000000000000" && f.Refresh.has(password)
}

func (f *FakeEntra) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	base := f.URL + "/" + f.TenantID
	switch r.URL.Path {
	case "/" + f.TenantID + "/v2.0/.well-known/openid-configuration":
		_ = json.NewEncoder(w).Encode(map[string]any{
			"token_endpoint":         base + "/oauth2/v2.0/token",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"issuer":                 base + "/v2.0",
		})
	case "/" + f.TenantID + "/oauth2/v2.0/token":
		f.Tokens.call()
		_ = r.ParseForm()
		ok := r.PostForm.Get("client_id") == f.ClientID && r.PostForm.Get("client_assertion") == f.FederatedToken
		if f.Assertion != nil {
			ok = f.Assertion(r.PostForm.Get("client_id"), r.PostForm.Get("client_assertion"))
		}
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]any{
				"error":             "invalid_client",
				"error_description": "AADSTS700213: No matching federated identity record found for presented assertion subject 'system:serviceaccount:hoist-system:hoist'.",
				"error_codes":       []int{700213},
			})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
			"access_token": f.Tokens.issue("entra"),
		})
	default:
		http.NotFound(w, r)
	}
}

// ACRExchange is a FaultAction for a test registry's POST ^/oauth2/exchange$:
// it trades an access token the fake issued for an ACR refresh token (a JWT
// valid for three hours), as ACR does.
func (f *FakeEntra) ACRExchange() FaultAction {
	return func(w http.ResponseWriter, r *http.Request, _ http.Handler, _ *Faults) {
		w.Header().Set("Content-Type", "application/json")
		_ = r.ParseForm()
		if r.PostForm.Get("grant_type") != "access_token" || !f.Tokens.has(r.PostForm.Get("access_token")) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"failed to validate the access token"}]}`))
			return
		}
		b64 := base64.RawURLEncoding.EncodeToString
		claims, _ := json.Marshal(map[string]any{"exp": f.now().Add(3 * time.Hour).Unix(), "grant_type": "refresh_token", "service": r.PostForm.Get("service")})
		refresh := b64([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + b64(claims) + "." + b64([]byte(f.Refresh.issue("acr")))
		f.Refresh.mu.Lock()
		f.Refresh.tokens[refresh] = true
		f.Refresh.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]string{"refresh_token": refresh})
	}
}
