package git

import (
	"fmt"
	"path"
	"reflect"
	"sort"
	"strings"
	"text/template"
	"unicode"
)

// TemplateFuncs returns the functions available to commit message
// templates: the hermetic sprig functions that Flux templates commonly use,
// with sprig's names and argument order (the piped value last). A template
// that calls another sprig function fails to parse with "function %q not
// defined". A new map is returned on every call.
func TemplateFuncs() template.FuncMap {
	return template.FuncMap{
		"lower":      strings.ToLower,
		"upper":      strings.ToUpper,
		"title":      title,
		"trim":       strings.TrimSpace,
		"trimAll":    func(cutset, s string) string { return strings.Trim(s, cutset) },
		"trimPrefix": func(prefix, s string) string { return strings.TrimPrefix(s, prefix) },
		"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
		"replace":    func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"contains":   func(substr, s string) bool { return strings.Contains(s, substr) },
		"hasPrefix":  func(prefix, s string) bool { return strings.HasPrefix(s, prefix) },
		"hasSuffix":  func(suffix, s string) bool { return strings.HasSuffix(s, suffix) },
		"repeat":     func(n int, s string) string { return strings.Repeat(s, max(n, 0)) },
		"trunc":      trunc,
		"substr":     substr,
		"nospace":    func(s string) string { return strings.Map(dropSpace, s) },
		"quote":      func(v ...any) string { return joinMapped(v, func(s string) string { return fmt.Sprintf("%q", s) }) },
		"squote":     func(v ...any) string { return joinMapped(v, func(s string) string { return "'" + s + "'" }) },
		"indent":     indent,
		"nindent":    func(n int, s string) string { return "\n" + indent(n, s) },
		"splitList":  func(sep, s string) []string { return strings.Split(s, sep) },
		"join":       join,
		"sortAlpha":  sortAlpha,
		"list":       func(v ...any) []any { return v },
		"first":      first,
		"last":       last,
		"default":    dflt,
		"empty":      empty,
		"coalesce":   coalesce,
		"toString":   toString,
		"base":       path.Base,
		"dir":        path.Dir,
		"ext":        path.Ext,
	}
}

func title(s string) string {
	prev := ' '
	return strings.Map(func(r rune) rune {
		defer func() { prev = r }()
		if unicode.IsSpace(prev) {
			return unicode.ToTitle(r)
		}
		return r
	}, s)
}

func dropSpace(r rune) rune {
	if unicode.IsSpace(r) {
		return -1
	}
	return r
}

// trunc keeps the first n runes of s, or the last -n when n is negative.
func trunc(n int, s string) string {
	r := []rune(s)
	switch {
	case n >= 0 && len(r) > n:
		return string(r[:n])
	case n < 0 && len(r) > -n:
		return string(r[len(r)+n:])
	}
	return s
}

func substr(start, end int, s string) string {
	r := []rune(s)
	start = min(max(start, 0), len(r))
	if end < 0 || end > len(r) {
		end = len(r)
	}
	if end < start {
		return ""
	}
	return string(r[start:end])
}

func indent(n int, s string) string {
	pad := strings.Repeat(" ", max(n, 0))
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

func toString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(v)
}

func joinMapped(v []any, f func(string) string) string {
	out := make([]string, 0, len(v))
	for _, x := range v {
		if x != nil {
			out = append(out, f(toString(x)))
		}
	}
	return strings.Join(out, " ")
}

// strs converts a slice or array of anything into strings.
func strs(list any) []string {
	v := reflect.ValueOf(list)
	if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
		return []string{toString(list)}
	}
	out := make([]string, v.Len())
	for i := range out {
		out[i] = toString(v.Index(i).Interface())
	}
	return out
}

func join(sep string, list any) string { return strings.Join(strs(list), sep) }

func sortAlpha(list any) []string {
	s := strs(list)
	sort.Strings(s)
	return s
}

func first(list any) any {
	v := reflect.ValueOf(list)
	if (v.Kind() == reflect.Slice || v.Kind() == reflect.Array) && v.Len() > 0 {
		return v.Index(0).Interface()
	}
	return nil
}

func last(list any) any {
	v := reflect.ValueOf(list)
	if (v.Kind() == reflect.Slice || v.Kind() == reflect.Array) && v.Len() > 0 {
		return v.Index(v.Len() - 1).Interface()
	}
	return nil
}

// empty reports whether v is its type's zero value or an empty collection.
func empty(v any) bool {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return true
	}
	switch rv.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return rv.Len() == 0
	}
	return rv.IsZero()
}

// dflt is sprig's default: the given value unless it is empty.
func dflt(d any, given ...any) any {
	if len(given) == 0 || empty(given[0]) {
		return d
	}
	return given[0]
}

func coalesce(v ...any) any {
	for _, x := range v {
		if !empty(x) {
			return x
		}
	}
	return nil
}
