package webhook

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// The outcomes of a request, as reported to WithObserver's function.
const (
	OutcomeAccepted     = "accepted"       // 202: the trigger was called
	OutcomeIgnored      = "ignored"        // 200: valid, nothing to rescan
	OutcomeMalformed    = "malformed"      // 400: the payload cannot be read or names nothing
	OutcomeUnauthorized = "unauthorized"   // 401: missing or wrong signature or Authorization
	OutcomeNotFound     = "not_found"      // 404: no receiver at the path (receiver "")
	OutcomeBadMethod    = "bad_method"     // 405: not a POST
	OutcomeTooLarge     = "too_large"      // 413: body over the limit
	OutcomeBadMediaType = "bad_media_type" // 415: a JSON type was sent another content type
	OutcomeSuspended    = "suspended"      // 503: the receiver is suspended
	OutcomeFailed       = "failed"         // 500: the trigger failed (a missing resource, a resourceFilter error)
)

// Trigger is called by a Handler for each accepted request, with the
// receiver and what the request asks for. ctx is the request's: it ends when
// the response is written, so Trigger must return quickly and hand the
// rescans to work that has its own context (see Coalescer). It may be called
// concurrently. An error (a resource that does not exist, a resourceFilter
// that fails to evaluate) is answered 500 with its text, and logged: it
// should name what is missing, never a secret.
type Trigger func(ctx context.Context, r Receiver, req Request) error

// Request is what an accepted request asks a Trigger for.
type Request struct {
	// Images are the normalised image repositories the payload names; nil
	// when it names none (generic types, forges, a payload without a
	// repository), meaning every resource of the receiver (see Selects).
	Images []string
	// filter is the receiver's compiled ResourceFilter, nil without one,
	// and filterReq its req variable.
	filter    *Filter
	filterReq map[string]any
	claims    map[string]any
}

// Filtered reports whether the receiver has a ResourceFilter, that is,
// whether Keep needs a resource's document at all.
func (r Request) Filtered() bool { return r.filter != nil }

// Keep evaluates the receiver's ResourceFilter for one resource, given as
// its document (see Filter): true when the receiver has no filter. An
// error means the request must fail (Flux answers 500).
func (r Request) Keep(ctx context.Context, res map[string]any) (bool, error) {
	if r.filter == nil {
		return true, nil
	}
	return r.filter.eval(ctx, r.filterReq, r.claims, res)
}

// Handler serves webhook receivers; build it with NewHandler. It is safe for
// concurrent use and immutable: to change the receivers served, build
// another.
type Handler struct {
	receivers map[[sha256.Size]byte]*served
	trigger   Trigger
	opts      options
	issuers   *oidcIssuers
}

// served is a receiver with what the Handler derives from it once.
type served struct {
	Receiver
	id       string
	tokenSum [sha256.Size]byte
	filter   *Filter
	oidc     []compiledProvider
}

// NewHandler returns a Handler serving each receiver at its Path. The
// receivers are checked (see ErrInvalidReceiver); a nil trigger is an error.
// Mount the Handler at PathPrefix without stripping it (mux.Handle("/hook/",
// h)): it matches the request's whole path.
func NewHandler(receivers []Receiver, trigger Trigger, opts ...Option) (*Handler, error) {
	if trigger == nil {
		return nil, errors.New("webhook: NewHandler: nil trigger")
	}
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	h := &Handler{receivers: make(map[[sha256.Size]byte]*served, len(receivers)), trigger: trigger, opts: o,
		issuers: newOIDCIssuers(o.oidc, o.now)}
	for _, r := range receivers {
		if err := r.validate(); err != nil {
			return nil, err
		}
		key := sha256.Sum256([]byte(r.Path()))
		if other, ok := h.receivers[key]; ok {
			return nil, fmt.Errorf("receiver %s: %w: same path as receiver %s", r, ErrInvalidReceiver, other.id)
		}
		r.Events = append([]string(nil), r.Events...)
		r.Resources = append([]string(nil), r.Resources...)
		sv := &served{Receiver: r, id: r.String(), tokenSum: sha256.Sum256([]byte(r.Token))}
		if strings.TrimSpace(r.ResourceFilter) != "" {
			f, err := CompileFilter(r.ResourceFilter)
			if err != nil {
				return nil, fmt.Errorf("receiver %s: %w: %w", r, ErrInvalidReceiver, err)
			}
			sv.filter = f
		}
		if r.Type == TypeGenericOIDC {
			ps, err := compileProviders(r.OIDCProviders)
			if err != nil {
				return nil, fmt.Errorf("receiver %s: %w: %w", r, ErrInvalidReceiver, err)
			}
			sv.oidc = ps
		}
		h.receivers[key] = sv
	}
	return h, nil
}

// result is the answer to a request, and what is logged and observed of it.
type result struct {
	status  int
	outcome string
	message string
	err     error
	event   Event
}

// ServeHTTP authenticates, reads and acts on one request (see the package
// documentation for the checks and the status codes).
func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	// Look the receiver up by a hash of the path: the map's comparisons then
	// leak nothing about the paths served.
	rc := h.receivers[sha256.Sum256([]byte(req.URL.Path))]
	var res result
	if rc == nil {
		res = result{status: http.StatusNotFound, outcome: OutcomeNotFound, message: "not found"}
	} else {
		res = h.serve(w, req, rc)
	}
	h.respond(w, req, rc, res)
}

func (h *Handler) serve(w http.ResponseWriter, req *http.Request, rc *served) result {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return result{status: http.StatusMethodNotAllowed, outcome: OutcomeBadMethod, message: "method not allowed"}
	}
	if rc.Suspended {
		return result{status: http.StatusServiceUnavailable, outcome: OutcomeSuspended, message: "receiver suspended"}
	}
	// A header that authenticates is checked before the body is read.
	var claims map[string]any
	switch rc.Type {
	case TypeHarbor, TypeDistribution:
		if !validAuthorization(req.Header.Get("Authorization"), rc.tokenSum) {
			return unauthorized("missing or wrong Authorization header")
		}
	case TypeGitLab:
		if !validToken(req.Header.Get(headerGitLabToken), rc.tokenSum) {
			return unauthorized("missing or wrong " + headerGitLabToken + " header")
		}
	case TypeGCR:
		if err := verifyGoogleIDToken(req.Context(), h.opts.idKeys, h.opts.now(), req.Header.Get("Authorization"), rc.Audience, rc.Email); err != nil {
			return unauthorized(err.Error())
		}
	case TypeGenericOIDC:
		c, err := verifyOIDCToken(req.Context(), h.issuers, rc.oidc, h.opts.now(), req.Header.Get("Authorization"))
		if err != nil {
			return unauthorized(err.Error())
		}
		claims = c
	}
	body, res, ok := h.readBody(w, req)
	if !ok {
		return res
	}
	if reason := checkSignature(rc, req.Header, body); reason != "" {
		return unauthorized(reason)
	}
	if mt, ok := acceptsMediaType(rc.Type, req.Header.Get("Content-Type")); !ok {
		return result{status: http.StatusUnsupportedMediaType, outcome: OutcomeBadMediaType,
			message: "unsupported media type", err: fmt.Errorf("content type %q", truncate(mt))}
	}
	if hdr := eventHeader(rc.Type); hdr != "" && len(rc.Events) > 0 {
		event := req.Header.Get(hdr)
		if !containsFold(rc.Events, event) {
			return result{status: http.StatusOK, outcome: OutcomeIgnored, message: "event ignored",
				event: Event{Ignored: fmt.Sprintf("%s event %q not in the receiver's events", rc.Type, truncate(event))}}
		}
	}
	ev, err := Parse(rc.Type, req.Header, body)
	if err != nil {
		return result{status: http.StatusBadRequest, outcome: OutcomeMalformed, message: err.Error(), err: err}
	}
	if rc.Type == TypeGitHub && len(rc.Events) > 0 && ev.Ignored != "" && githubForgeEvent(req.Header.Get("X-GitHub-Event")) {
		// An event the receiver listens for that names no package (push,
		// release, ...): every resource, as Flux triggers them all.
		ev = Event{AllResources: true}
	}
	if ev.Ignored != "" {
		return result{status: http.StatusOK, outcome: OutcomeIgnored, message: "nothing to rescan", event: ev}
	}
	tr := Request{Images: ev.Images}
	if ev.AllResources {
		tr.Images = nil
	}
	if rc.filter != nil {
		tr.filter, tr.filterReq, tr.claims = rc.filter, FilterRequest(req.Header, body), claims
	}
	if err := h.trigger(req.Context(), rc.Receiver, tr); err != nil {
		return result{status: http.StatusInternalServerError, outcome: OutcomeFailed, message: err.Error(), err: err, event: ev}
	}
	return result{status: http.StatusAccepted, outcome: OutcomeAccepted, message: "accepted", event: ev}
}

// eventHeader returns the header that carries the event type of a receiver
// type whose Events filter requests, or "".
func eventHeader(typ string) string {
	switch typ {
	case TypeGitHub:
		return "X-GitHub-Event"
	case TypeGitLab:
		return "X-Gitlab-Event"
	case TypeBitbucket:
		return "X-Event-Key"
	case TypeCDEvents:
		return "Ce-Type"
	}
	return ""
}

// githubForgeEvent says whether a GitHub event is one that names no
// package and is not a ping.
func githubForgeEvent(event string) bool {
	switch strings.ToLower(strings.TrimSpace(event)) {
	case "", "ping", "package", "registry_package":
		return false
	}
	return true
}

// checkSignature checks the signature of the body that the receiver's type
// requires, and returns why it is refused, or "".
func checkSignature(rc *served, header http.Header, body []byte) string {
	switch rc.Type {
	case TypeGitHub:
		// SHA-1 only when no SHA-256 signature is sent: some GitHub
		// Enterprise versions send X-Hub-Signature alone.
		if header.Get(headerGitHubSignature) == "" && header.Get(headerHubSignature) != "" {
			if !validSignature(githubLegacy, header.Get(headerHubSignature), rc.Token, body) {
				return "wrong " + headerHubSignature + " header"
			}
			return ""
		}
		if !validSignature(rc.Type, header.Get(headerGitHubSignature), rc.Token, body) {
			return "missing or wrong " + headerGitHubSignature + " header"
		}
	case TypeGenericHMAC:
		if !validSignature(rc.Type, header.Get(headerGenericSignature), rc.Token, body) {
			return "missing or wrong " + headerGenericSignature + " header"
		}
	case TypeBitbucket:
		if !validSignature(rc.Type, header.Get(headerHubSignature), rc.Token, body) {
			return "missing or wrong " + headerHubSignature + " header"
		}
	case TypeNexus:
		if !validSignature(rc.Type, "sha1="+header.Get(headerNexusSignature), rc.Token, body) {
			return "missing or wrong " + headerNexusSignature + " header"
		}
	}
	return ""
}

func unauthorized(reason string) result {
	return result{status: http.StatusUnauthorized, outcome: OutcomeUnauthorized, message: "unauthorized", err: errors.New(reason)}
}

// readBody reads the body up to the limit.
func (h *Handler) readBody(w http.ResponseWriter, req *http.Request) ([]byte, result, bool) {
	tooLarge := result{status: http.StatusRequestEntityTooLarge, outcome: OutcomeTooLarge, message: "body too large",
		err: fmt.Errorf("body over %d bytes", h.opts.bodyLimit)}
	if req.ContentLength > h.opts.bodyLimit {
		return nil, tooLarge, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, h.opts.bodyLimit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge, false
		}
		return nil, result{status: http.StatusBadRequest, outcome: OutcomeMalformed, message: "cannot read body",
			err: fmt.Errorf("reading body: %w", err)}, false
	}
	return body, result{}, true
}

// acceptsMediaType checks the request's content type: any for the generic
// types, whose body is not read; JSON (application/json or
// application/*+json) for the others, and form-encoded for github. A missing
// Content-Type is accepted, and the body must then parse.
func acceptsMediaType(typ, contentType string) (string, bool) {
	if typ == TypeGeneric || typ == TypeGenericHMAC || typ == TypeGenericOIDC || contentType == "" {
		return "", true
	}
	mt := mediaType(contentType)
	switch {
	case mt == "application/json":
	case strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"):
	case typ == TypeGitHub && mt == "application/x-www-form-urlencoded":
	default:
		return contentType, false
	}
	return mt, true
}

func containsFold(list []string, s string) bool {
	for _, e := range list {
		if strings.EqualFold(strings.TrimSpace(e), strings.TrimSpace(s)) {
			return true
		}
	}
	return false
}

// respond observes and logs the answer, then writes it.
func (h *Handler) respond(w http.ResponseWriter, req *http.Request, rc *served, res result) {
	id := ""
	if rc != nil {
		id = rc.id
	}
	h.opts.observe(id, res.outcome)
	h.log(req, rc, res)

	hdr := w.Header()
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(res.status)
	_, _ = io.WriteString(w, res.message+"\n")
}

// log writes the request's line.
func (h *Handler) log(req *http.Request, rc *served, res result) {
	ctx := req.Context()

	level := slog.LevelDebug
	switch res.outcome {
	case OutcomeAccepted:
		level = slog.LevelInfo
	case OutcomeUnauthorized, OutcomeMalformed, OutcomeTooLarge, OutcomeBadMediaType:
		level = slog.LevelWarn
	case OutcomeFailed:
		level = slog.LevelError
	}
	if !h.opts.logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 8)
	if rc == nil {
		attrs = append(attrs, slog.String("receiver", ""))
	} else {
		attrs = append(attrs, slog.String("receiver", rc.id), slog.String("type", rc.Type))
	}
	attrs = append(attrs, slog.String("outcome", res.outcome), slog.Int("status", res.status))
	if len(res.event.Images) > 0 {
		attrs = append(attrs, slog.Any("images", res.event.Images))
	}
	if len(res.event.Tags) > 0 {
		attrs = append(attrs, slog.Any("tags", res.event.Tags))
	}
	if res.event.Ignored != "" {
		attrs = append(attrs, slog.String("reason", res.event.Ignored))
	}
	if res.err != nil {
		attrs = append(attrs, slog.String("error", res.err.Error()))
	}
	if res.outcome == OutcomeUnauthorized {
		attrs = append(attrs, slog.String("remote", req.RemoteAddr))
	}
	h.opts.logger.LogAttrs(ctx, level, "webhook request", attrs...)
}
