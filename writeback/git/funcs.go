package git

import (
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

// outsideFuncs are the sprig functions a commit message template may not
// call: they read the environment of hoist's process (where tokens live)
// or reach the network. Helm removes the same.
var outsideFuncs = []string{"env", "expandenv", "getHostByName"}

// TemplateFuncs returns the functions available to commit message
// templates: sprig's, as Flux offers them, so Flux templates render
// unchanged, except env, expandenv and getHostByName. A new map is
// returned on every call.
func TemplateFuncs() template.FuncMap {
	funcs := sprig.TxtFuncMap()
	for _, name := range outsideFuncs {
		delete(funcs, name)
	}
	return funcs
}
