package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/notification/v1beta3"
)

// target is a Provider with its secret read.
type target struct {
	typ      string
	address  string
	token    string
	username string
	channel  string
	headers  map[string]string
	timeout  time.Duration
}

// request is one POST.
type request struct {
	url    string
	header map[string]string
	body   []byte
}

// errNoRevision: a commit status provider has nothing to say of an event
// that names no commit.
var errNoRevision = errors.New("event names no commit")

// resolve reads p's secret: its keys address, token, headers, username
// and channel override the spec, as Flux reads them.
func (n *Notifier) resolve(ctx context.Context, p *config.Provider) (*target, error) {
	s := p.Spec
	t := &target{typ: s.Type, address: s.Address, username: s.Username, channel: s.Channel, timeout: DefaultTimeout}
	if s.Timeout != nil && s.Timeout.Duration > 0 {
		t.timeout = s.Timeout.Duration
	}
	if s.SecretRef != nil && s.SecretRef.Name != "" {
		sec, err := n.secrets(ctx, p.Namespace, s.SecretRef.Name)
		if err != nil {
			return nil, fmt.Errorf("reading its secret: %w", err)
		}
		if v := sec["address"]; v != "" {
			t.address = v
		}
		if v := sec["username"]; v != "" {
			t.username = v
		}
		if v := sec["channel"]; v != "" {
			t.channel = v
		}
		t.token = sec["token"]
		if h := sec["headers"]; strings.TrimSpace(h) != "" {
			if err := yaml.Unmarshal([]byte(h), &t.headers); err != nil {
				return nil, fmt.Errorf("secret %q: key headers: want a YAML map of header names to values: %w", s.SecretRef.Name, err)
			}
		}
	}
	if t.typ == v1beta3.ProviderSlack && t.address == "" && t.token != "" {
		t.address = "https://slack.com/api/chat.postMessage"
	}
	if t.address == "" {
		return nil, errors.New("no address (spec.address, or the key address of its secret)")
	}
	if u, err := url.Parse(t.address); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("address %s: want an http or https URL", redact(t.address))
	}
	if (t.typ == v1beta3.ProviderGenericHMAC || commitStatus(t.typ)) && t.token == "" {
		return nil, fmt.Errorf("type %s needs the key token in its secret", t.typ)
	}
	return t, nil
}

func commitStatus(typ string) bool {
	return typ == v1beta3.ProviderGitHub || typ == v1beta3.ProviderGitLab || typ == v1beta3.ProviderGitea
}

// request builds the POST of e for t.
func (t *target) request(e Event) (*request, error) {
	r := &request{url: t.address, header: map[string]string{"Content-Type": "application/json"}}
	var err error
	switch t.typ {
	case v1beta3.ProviderGeneric, v1beta3.ProviderGenericHMAC:
		for k, v := range t.headers {
			r.header[k] = v
		}
		if r.body, err = json.Marshal(e); err != nil {
			return nil, err
		}
		if t.typ == v1beta3.ProviderGenericHMAC {
			// As Flux: X-Signature: sha256=HEX(HMAC-SHA256(token, body)).
			mac := hmac.New(sha256.New, []byte(t.token))
			mac.Write(r.body)
			r.header["X-Signature"] = "sha256=" + hex.EncodeToString(mac.Sum(nil))
		}
	case v1beta3.ProviderSlack, v1beta3.ProviderDiscord:
		if t.typ == v1beta3.ProviderDiscord && !strings.HasSuffix(strings.TrimSuffix(r.url, "/"), "/slack") {
			// Discord reads Slack's payload at the webhook URL + /slack.
			r.url = strings.TrimSuffix(r.url, "/") + "/slack"
		}
		if t.typ == v1beta3.ProviderSlack && t.token != "" {
			r.header["Authorization"] = "Bearer " + t.token
		}
		r.body, err = json.Marshal(slackPayload(t, e))
	case v1beta3.ProviderMSTeams:
		r.body, err = json.Marshal(teamsPayload(e))
	case v1beta3.ProviderGitHub, v1beta3.ProviderGitLab, v1beta3.ProviderGitea:
		return t.commitStatus(e)
	default:
		return nil, fmt.Errorf("unsupported provider type %q", t.typ)
	}
	return r, err
}

// title is how messages name the object: kind/name.namespace, as Flux.
func title(e Event) string {
	o := e.InvolvedObject
	return strings.ToLower(o.Kind) + "/" + o.Name + "." + o.Namespace
}

type slackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

type slackAttachment struct {
	Color      string       `json:"color"`
	AuthorName string       `json:"author_name"`
	Text       string       `json:"text"`
	MrkdwnIn   []string     `json:"mrkdwn_in"`
	Fields     []slackField `json:"fields,omitempty"`
}

type slackMessage struct {
	Channel     string            `json:"channel,omitempty"`
	Username    string            `json:"username,omitempty"`
	Attachments []slackAttachment `json:"attachments"`
}

func slackPayload(t *target, e Event) slackMessage {
	color := "good"
	if e.Severity == v1beta3.SeverityError {
		color = "danger"
	}
	a := slackAttachment{Color: color, AuthorName: title(e), Text: e.Message, MrkdwnIn: []string{"text"}}
	for _, k := range sortedKeys(e.Metadata) {
		a.Fields = append(a.Fields, slackField{Title: k, Value: e.Metadata[k]})
	}
	return slackMessage{Channel: t.channel, Username: t.username, Attachments: []slackAttachment{a}}
}

// teamsPayload is an Adaptive Card message, what Flux sends to Teams
// workflow webhooks.
func teamsPayload(e Event) map[string]any {
	facts := []map[string]string{}
	for _, k := range sortedKeys(e.Metadata) {
		facts = append(facts, map[string]string{"title": k, "value": e.Metadata[k]})
	}
	body := []map[string]any{
		{"type": "TextBlock", "text": title(e), "weight": "bolder", "size": "medium", "wrap": true},
		{"type": "TextBlock", "text": e.Message, "wrap": true},
	}
	if len(facts) > 0 {
		body = append(body, map[string]any{"type": "FactSet", "facts": facts})
	}
	return map[string]any{
		"type": "message",
		"attachments": []map[string]any{{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"content": map[string]any{
				"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
				"type":    "AdaptiveCard",
				"version": "1.4",
				"body":    body,
			},
		}},
	}
}

// commitStatus builds the commit status of e's revision on the forge
// repository at t.address.
func (t *target) commitStatus(e Event) (*request, error) {
	sha := revisionSHA(e.Metadata[MetaRevision])
	if sha == "" {
		return nil, errNoRevision
	}
	u, err := url.Parse(t.address)
	if err != nil {
		return nil, err
	}
	repoPath := strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
	parts := strings.Split(repoPath, "/")
	if len(parts) < 2 {
		return nil, fmt.Errorf("address %s: want the repository's URL", redact(t.address))
	}
	host := u.Scheme + "://" + u.Host
	ctxName := strings.ToLower(e.InvolvedObject.Kind) + "/" + e.InvolvedObject.Name
	desc := e.Message
	if len(desc) > 140 {
		desc = desc[:137] + "..."
	}
	failed := e.Severity == v1beta3.SeverityError
	r := &request{header: map[string]string{"Content-Type": "application/json"}}
	var body map[string]string
	switch t.typ {
	case v1beta3.ProviderGitHub:
		api := host + "/api/v3"
		if u.Host == "github.com" {
			api = "https://api.github.com"
		}
		owner, repo := parts[len(parts)-2], parts[len(parts)-1]
		r.url = api + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo) + "/statuses/" + sha
		r.header["Authorization"] = "Bearer " + t.token
		r.header["Accept"] = "application/vnd.github+json"
		body = map[string]string{"state": pick(failed, "failure", "success"), "context": ctxName, "description": desc}
	case v1beta3.ProviderGitLab:
		r.url = host + "/api/v4/projects/" + url.PathEscape(repoPath) + "/statuses/" + sha
		r.header["PRIVATE-TOKEN"] = t.token
		body = map[string]string{"state": pick(failed, "failed", "success"), "name": ctxName, "description": desc}
	case v1beta3.ProviderGitea:
		owner, repo := parts[len(parts)-2], parts[len(parts)-1]
		r.url = host + "/api/v1/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo) + "/statuses/" + sha
		r.header["Authorization"] = "token " + t.token
		body = map[string]string{"state": pick(failed, "failure", "success"), "context": ctxName, "description": desc}
	}
	r.body, err = json.Marshal(body)
	return r, err
}

func pick(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}

// revisionSHA takes the commit out of BRANCH@sha1:SHA (or a bare SHA).
func revisionSHA(rev string) string {
	if i := strings.LastIndex(rev, ":"); i >= 0 {
		rev = rev[i+1:]
	}
	if len(rev) < 7 {
		return ""
	}
	for _, c := range rev {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return ""
		}
	}
	return rev
}

// redact hides a URL's user information, query and path beyond the host
// (webhook URLs carry their secret in the path).
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(an invalid URL)"
	}
	return u.Scheme + "://" + u.Host + "/..."
}

// scrub replaces the URL in err's text (net/http quotes it) by its
// redacted form.
func scrub(err error, raw string) error {
	msg := err.Error()
	if !strings.Contains(msg, raw) {
		return err
	}
	return errors.New(strings.ReplaceAll(msg, raw, redact(raw)))
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
