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
)

// Trigger is called by a Handler for each accepted request, with the
// receiver and the normalised image repositories the payload names; images
// is nil when the type names none (generic, generic-hmac), meaning every
// resource of the receiver (see Selects). ctx is the request's: it ends when
// the response is written, so Trigger must return quickly and hand the
// rescans to work that has its own context (see Coalescer). It may be called
// concurrently.
type Trigger func(ctx context.Context, r Receiver, images []string)

// Handler serves webhook receivers; build it with NewHandler. It is safe for
// concurrent use and immutable: to change the receivers served, build
// another.
type Handler struct {
	receivers map[[sha256.Size]byte]*served
	trigger   Trigger
	opts      options
}

// served is a receiver with what the Handler derives from it once.
type served struct {
	Receiver
	id       string
	tokenSum [sha256.Size]byte
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
	h := &Handler{receivers: make(map[[sha256.Size]byte]*served, len(receivers)), trigger: trigger, opts: o}
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
		h.receivers[key] = &served{Receiver: r, id: r.String(), tokenSum: sha256.Sum256([]byte(r.Token))}
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
	if rc.Type == TypeHarbor || rc.Type == TypeDistribution {
		if !validAuthorization(req.Header.Get("Authorization"), rc.tokenSum) {
			return unauthorized("missing or wrong Authorization header")
		}
	}
	body, res, ok := h.readBody(w, req)
	if !ok {
		return res
	}
	switch rc.Type {
	case TypeGitHub:
		if !validSignature(rc.Type, req.Header.Get(headerGitHubSignature), rc.Token, body) {
			return unauthorized("missing or wrong " + headerGitHubSignature + " header")
		}
	case TypeGenericHMAC:
		if !validSignature(rc.Type, req.Header.Get(headerGenericSignature), rc.Token, body) {
			return unauthorized("missing or wrong " + headerGenericSignature + " header")
		}
	}
	if mt, ok := acceptsMediaType(rc.Type, req.Header.Get("Content-Type")); !ok {
		return result{status: http.StatusUnsupportedMediaType, outcome: OutcomeBadMediaType,
			message: "unsupported media type", err: fmt.Errorf("content type %q", truncate(mt))}
	}
	if rc.Type == TypeGitHub && len(rc.Events) > 0 {
		event := req.Header.Get("X-GitHub-Event")
		if !containsFold(rc.Events, event) {
			return result{status: http.StatusOK, outcome: OutcomeIgnored, message: "event ignored",
				event: Event{Ignored: fmt.Sprintf("github event %q not in the receiver's events", truncate(event))}}
		}
	}
	ev, err := Parse(rc.Type, req.Header, body)
	if err != nil {
		return result{status: http.StatusBadRequest, outcome: OutcomeMalformed, message: err.Error(), err: err}
	}
	if ev.Ignored != "" {
		return result{status: http.StatusOK, outcome: OutcomeIgnored, message: "nothing to rescan", event: ev}
	}
	images := ev.Images
	if ev.AllResources {
		images = nil
	}
	h.trigger(req.Context(), rc.Receiver, images)
	return result{status: http.StatusAccepted, outcome: OutcomeAccepted, message: "accepted", event: ev}
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
	if typ == TypeGeneric || typ == TypeGenericHMAC || contentType == "" {
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
