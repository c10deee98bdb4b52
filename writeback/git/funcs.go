package git

import (
	"fmt"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

// outsideFuncs are the sprig functions a commit message template may not
// call: they read the environment of hoist's process (where tokens live)
// or reach the network. Helm removes the same.
var outsideFuncs = []string{"env", "expandenv", "getHostByName"}

// TemplateFuncs returns the functions available to commit message
// templates: sprig's, as Flux offers them, so Flux templates render
// unchanged, except env, expandenv and getHostByName. The functions whose
// arguments set the size of what they make (repeat, indent, nindent, until,
// untilStep, seq, the rand functions) and those that join strings (print,
// printf, println, cat, join) fail with ErrMessageTooLarge rather than
// make a value larger than MaxMessageSize, so that a template cannot build
// a huge value in memory before a byte of it is written. A new map is
// returned on every call.
func TemplateFuncs() template.FuncMap {
	funcs := sprig.TxtFuncMap()
	for _, name := range outsideFuncs {
		delete(funcs, name)
	}
	for name, f := range boundedFuncs(MaxMessageSize) {
		funcs[name] = f
	}
	return funcs
}

// boundedFuncs wraps the functions that can make a value of any size so
// that they refuse one larger than limit bytes (or items).
func boundedFuncs(limit int) template.FuncMap {
	tooLarge := func(name string, n int) error {
		return fmt.Errorf("%s: %w: %d bytes or items, more than the cap of %d", name, ErrMessageTooLarge, n, limit)
	}
	sizeOK := func(name string, s string) (string, error) {
		if len(s) > limit {
			return "", tooLarge(name, len(s))
		}
		return s, nil
	}
	sp := sprig.TxtFuncMap()
	count := func(name string) func(int) (string, error) {
		f := sp[name].(func(int) string)
		return func(n int) (string, error) {
			if n > limit {
				return "", tooLarge(name, n)
			}
			return f(n), nil
		}
	}
	indent := func(name string) func(int, string) (string, error) {
		f := sp[name].(func(int, string) string)
		return func(spaces int, v string) (string, error) {
			if spaces > limit || len(v) > limit {
				return "", tooLarge(name, max(spaces, len(v)))
			}
			return sizeOK(name, f(spaces, v))
		}
	}
	join := func(name string, f func(...any) string) func(...any) (string, error) {
		return func(args ...any) (string, error) { return sizeOK(name, f(args...)) }
	}
	untilStep := sp["untilStep"].(func(int, int, int) []int)
	steps := func(start, stop, step int) int {
		switch {
		case step > 0 && stop > start:
			return int(min((int64(stop)-int64(start))/int64(step), int64(limit)+1))
		case step < 0 && stop < start:
			return int(min((int64(start)-int64(stop))/-int64(step), int64(limit)+1))
		}
		return 0
	}
	seq := sp["seq"].(func(...int) string)
	randBytes := sp["randBytes"].(func(int) (string, error))
	joinList := sp["join"].(func(string, any) string)
	return template.FuncMap{
		"repeat": func(n int, s string) (string, error) {
			if n > 0 && len(s) > 0 && n > limit/len(s) {
				return "", tooLarge("repeat", limit+1)
			}
			return sp["repeat"].(func(int, string) string)(n, s), nil
		},
		"indent":       indent("indent"),
		"nindent":      indent("nindent"),
		"randAlpha":    count("randAlpha"),
		"randAlphaNum": count("randAlphaNum"),
		"randAscii":    count("randAscii"),
		"randNumeric":  count("randNumeric"),
		"randBytes": func(n int) (string, error) {
			if n > limit {
				return "", tooLarge("randBytes", n)
			}
			return randBytes(n)
		},
		"until": func(n int) ([]int, error) {
			if n > limit || n < -limit {
				return nil, tooLarge("until", n)
			}
			return sp["until"].(func(int) []int)(n), nil
		},
		"untilStep": func(start, stop, step int) ([]int, error) {
			if n := steps(start, stop, step); n > limit {
				return nil, tooLarge("untilStep", n)
			}
			return untilStep(start, stop, step), nil
		},
		"seq": func(params ...int) (string, error) {
			lo, hi := 0, 0
			for i, p := range params {
				if i == 0 || p < lo {
					lo = p
				}
				if i == 0 || p > hi {
					hi = p
				}
			}
			if len(params) == 1 {
				lo, hi = min(lo, 1), max(hi, 1)
			}
			if int64(hi)-int64(lo) > int64(limit) {
				return "", tooLarge("seq", limit+1)
			}
			return sizeOK("seq", seq(params...))
		},
		"join": func(sep string, v any) (string, error) { return sizeOK("join", joinList(sep, v)) },
		"cat":  join("cat", sp["cat"].(func(...any) string)),
		// The builtins print, printf and println, bounded alike.
		"print":   join("print", fmt.Sprint),
		"println": join("println", fmt.Sprintln),
		"printf": func(format string, args ...any) (string, error) {
			return sizeOK("printf", fmt.Sprintf(format, args...))
		},
	}
}
