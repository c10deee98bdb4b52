package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// The receiver types served, the values of a Receiver document's spec.type.
const (
	TypeDockerHub    = "dockerhub"
	TypeHarbor       = "harbor"
	TypeQuay         = "quay"
	TypeGitHub       = "github"
	TypeGeneric      = "generic"
	TypeGenericHMAC  = "generic-hmac"
	TypeDistribution = "distribution" // CNCF Distribution notifications; a hoist extension
	TypeGitLab       = "gitlab"
	TypeBitbucket    = "bitbucket"
	TypeACR          = "acr"
	TypeNexus        = "nexus"
	TypeCDEvents     = "cdevents"
	TypeGCR          = "gcr" // Artifact Registry / Container Registry via a Pub/Sub push subscription
	TypeGenericOIDC  = "generic-oidc"
)

// PathPrefix starts the path of every receiver, as in Flux.
const PathPrefix = "/hook/"

// TokenKey is the key of a receiver's Secret that holds its token, as in
// Flux: with --secrets-dir DIR, the token of secretRef NAME is in
// DIR/NAME/token.
const TokenKey = "token"

// ErrInvalidReceiver is returned (wrapped) by NewHandler for a receiver it
// cannot serve safely: no name or namespace, an unknown type, an empty token,
// or the path of another receiver.
var ErrInvalidReceiver = errors.New("invalid receiver")

// ErrInvalidSecret is returned (wrapped) by ReadToken when the secret's name
// is not one path element, or its token is empty.
var ErrInvalidSecret = errors.New("invalid webhook secret")

// Receiver is a webhook receiver as the Handler serves it: plain values the
// caller builds from a Receiver document and the token of its secretRef.
//
// Its String, GoString and LogValue leave the token out, so that printing or
// logging a Receiver does not leak it.
type Receiver struct {
	// Name and Namespace are the document's; with Token they make the path.
	Name, Namespace string
	// Type is one of the Type constants.
	Type string
	// Token is the secret: part of the path, and the key of signatures and
	// Authorization headers. A generic-oidc receiver has none (its path is
	// Path("", Name, Namespace), as in Flux): its requests carry ID tokens.
	Token string
	// Events lists the event types handled, compared case-insensitively
	// with X-GitHub-Event (github), X-Gitlab-Event (gitlab), X-Event-Key
	// (bitbucket) or Ce-Type (cdevents); other events are answered 200 and
	// trigger nothing. A github event listed that names no package (push,
	// say) rescans every resource. Empty: every event (for github, the
	// package and registry_package events; others are ignored). Other
	// types ignore it, as Flux does.
	Events []string
	// Resources names the ImageRepositories to rescan, as NAMESPACE/NAME.
	// The Handler does not read it; it is the Trigger's to use.
	Resources []string
	// ResourceFilter is the receiver's spec.resourceFilter, a CEL
	// expression (see Filter); empty: none. NewHandler compiles it.
	ResourceFilter string
	// Audience and Email are what the ID token of a gcr request must be
	// issued for and to (the secret's audience and email keys, as in
	// Flux); empty: not checked.
	Audience, Email string
	// OIDCProviders are the issuers whose ID tokens a generic-oidc
	// receiver accepts (see OIDCProvider); other types ignore them.
	OIDCProviders []OIDCProvider
	// Suspended receivers answer 503 and trigger nothing.
	Suspended bool
}

// Path returns the path the receiver is served at (see Path).
func (r Receiver) Path() string { return Path(r.Token, r.Name, r.Namespace) }

// String returns NAMESPACE/NAME, the receiver's name in logs and metrics.
func (r Receiver) String() string { return r.Namespace + "/" + r.Name }

// GoString prints the receiver for %#v without its token.
func (r Receiver) GoString() string {
	return fmt.Sprintf("webhook.Receiver{Name:%q, Namespace:%q, Type:%q, Token:<redacted>, Events:%#v, Resources:%#v, Suspended:%t}",
		r.Name, r.Namespace, r.Type, r.Events, r.Resources, r.Suspended)
}

// LogValue logs the receiver's name, namespace and type, never its token.
func (r Receiver) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", r.Name),
		slog.String("namespace", r.Namespace),
		slog.String("type", r.Type),
	)
}

// Path returns the path of a receiver: "/hook/" followed by the lowercase hex
// SHA-256 of token+name+namespace, the path Flux's notification-controller
// computes, so that a sender configured for Flux works unchanged.
func Path(token, name, namespace string) string {
	sum := sha256.Sum256([]byte(token + name + namespace))
	return PathPrefix + hex.EncodeToString(sum[:])
}

// ReadToken reads the token of the secret name from a secrets directory laid
// out as Kubernetes mounts Secrets: secretsDir/name/token. Surrounding white
// space is trimmed, so that a file written with echo works (a token that
// really ends in white space gets a path other than Flux's). An empty token
// is an error: it would make the path guessable. Errors name the file, never
// its content; a missing file wraps fs.ErrNotExist.
func ReadToken(secretsDir, name string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return "", fmt.Errorf("reading webhook secret %q: %w: not a secret name", name, ErrInvalidSecret)
	}
	path := filepath.Join(secretsDir, name, TokenKey)
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("reading webhook secret %q: %s does not exist: %w", name, path, err)
		}
		return "", fmt.Errorf("reading webhook secret %q: %w", name, err)
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", fmt.Errorf("reading webhook secret %q: %s: %w: empty token", name, path, ErrInvalidSecret)
	}
	return token, nil
}

// validate checks what NewHandler needs of a receiver.
func (r Receiver) validate() error {
	switch {
	case r.Name == "":
		return fmt.Errorf("receiver %s: %w: empty name", r, ErrInvalidReceiver)
	case r.Namespace == "":
		return fmt.Errorf("receiver %s: %w: empty namespace (the path depends on it)", r, ErrInvalidReceiver)
	case r.Type == TypeGenericOIDC && r.Token != "":
		return fmt.Errorf("receiver %s: %w: a generic-oidc receiver has no token (its requests carry ID tokens)", r, ErrInvalidReceiver)
	case r.Type != TypeGenericOIDC && strings.TrimSpace(r.Token) == "":
		return fmt.Errorf("receiver %s: %w: empty token", r, ErrInvalidReceiver)
	}
	switch r.Type {
	case TypeDockerHub, TypeHarbor, TypeQuay, TypeGitHub, TypeGeneric, TypeGenericHMAC, TypeDistribution,
		TypeGitLab, TypeBitbucket, TypeACR, TypeNexus, TypeCDEvents, TypeGCR, TypeGenericOIDC:
		return nil
	}
	return fmt.Errorf("receiver %s: %w: unknown type %q", r, ErrInvalidReceiver, r.Type)
}

// ReadSecretKey reads an optional key of a secret laid out as ReadToken
// reads it (secretsDir/name/key), trimmed: "" when the file does not exist.
func ReadSecretKey(secretsDir, name, key string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return "", fmt.Errorf("reading webhook secret %q: %w: not a secret name", name, ErrInvalidSecret)
	}
	data, err := os.ReadFile(filepath.Join(secretsDir, name, key))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading webhook secret %q: %w", name, err)
	}
	return strings.TrimSpace(string(data)), nil
}
