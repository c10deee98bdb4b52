package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
)

// ErrInvalidFilter is returned (wrapped) by CompileFilter for an expression
// that does not compile or does not return a boolean.
var ErrInvalidFilter = errors.New("invalid resourceFilter")

// Filter is a compiled spec.resourceFilter: a CEL expression that returns a
// boolean, evaluated once per resource of an accepted request, as Flux's
// notification-controller evaluates it. It sees two variables:
//   - req: the request, req.body (the JSON body as an object; {} when the
//     body is not JSON) and req.headers (a map from the lowercase header
//     name to its values joined with ", "); request is another name for
//     it, as some of Flux's examples write it;
//   - res: the resource, as its document: res.apiVersion, res.kind,
//     res.metadata.name, res.metadata.namespace, res.metadata.labels,
//     res.metadata.annotations, res.spec;
//   - claims: the verified claims of the ID token of a generic-oidc
//     request, as in Flux; {} for the other types.
//
// False excludes the resource from the rescan. A Filter is safe for
// concurrent use.
type Filter struct {
	expr string
	prg  cel.Program
}

// CompileFilter compiles a resourceFilter expression. It fails, wrapping
// ErrInvalidFilter, when the expression does not compile or its type is
// known not to be a boolean.
func CompileFilter(expr string) (*Filter, error) {
	env, err := cel.NewEnv(
		cel.Variable("req", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("request", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("res", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
		ext.Strings(), ext.Encoders(), ext.Lists(), ext.Sets(),
	)
	if err != nil {
		return nil, fmt.Errorf("resourceFilter: CEL environment: %w", err)
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		// CEL's message quotes the expression on further lines.
		msg, _, _ := strings.Cut(iss.Err().Error(), "\n")
		return nil, fmt.Errorf("%w %q: %s", ErrInvalidFilter, truncate(expr), strings.TrimPrefix(msg, "ERROR: "))
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
		return nil, fmt.Errorf("%w %q: returns %s, want a boolean", ErrInvalidFilter, truncate(expr), t)
	}
	prg, err := env.Program(ast, cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrInvalidFilter, truncate(expr), err)
	}
	return &Filter{expr: expr, prg: prg}, nil
}

// String returns the expression.
func (f *Filter) String() string { return f.expr }

// Eval evaluates the filter for one resource of a request: req as
// FilterRequest builds it, res the resource's document as a map. An
// evaluation error (a missing key, a type error) is returned, and the
// caller answers 500 as Flux does.
func (f *Filter) Eval(ctx context.Context, req, res map[string]any) (bool, error) {
	return f.eval(ctx, req, nil, res)
}

// eval is Eval with the claims of a generic-oidc request (nil: none).
func (f *Filter) eval(ctx context.Context, req, claims, res map[string]any) (bool, error) {
	if claims == nil {
		claims = map[string]any{}
	}
	out, _, err := f.prg.ContextEval(ctx, map[string]any{"req": req, "request": req, "res": res, "claims": claims})
	if err != nil {
		return false, fmt.Errorf("resourceFilter %q: %w", truncate(f.expr), err)
	}
	b, ok := out.Value().(bool)
	if !ok || out.Type() != types.BoolType {
		return false, fmt.Errorf("resourceFilter %q: returned %v, want a boolean", truncate(f.expr), out.Type())
	}
	return b, nil
}

// FilterRequest returns the req variable of a request: its body decoded
// when it is a JSON object (else an empty object), and its headers.
func FilterRequest(header http.Header, body []byte) map[string]any {
	decoded := map[string]any{}
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] == '{' {
		var m map[string]any
		if json.Unmarshal(trimmed, &m) == nil && m != nil {
			decoded = m
		}
	}
	headers := make(map[string]any, len(header))
	for k, v := range header {
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	return map[string]any{"body": decoded, "headers": headers}
}
