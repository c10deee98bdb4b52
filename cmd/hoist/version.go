package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version, commit and buildDate are set at build time with -ldflags
// "-X main.version=... -X main.commit=... -X main.buildDate=..." (make build,
// make release and make image do; buildDate is the commit's time, so that
// builds are reproducible). When they are empty, the build information that
// go build and go install record is used instead: see versionOf.
var version, commit, buildDate string

// linkerFlags are the values -ldflags -X sets.
type linkerFlags struct {
	Version, Commit, BuildDate string
}

// versionInfo is what hoist version prints.
type versionInfo struct {
	// Version is the -ldflags version, else the module version (v1.2.3
	// from go install, or the pseudo-version go build derives from the
	// checkout), else "dev".
	Version string `json:"version"`
	// Revision, Time and Modified describe the checkout the binary was
	// built from, when go build recorded it (-buildvcs).
	// Revision is the -ldflags commit when set.
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	// BuildDate is the -ldflags build date (RFC 3339), when set.
	BuildDate string `json:"buildDate,omitempty"`
	GoVersion string `json:"goVersion"`
}

// String is "VERSION (commit REVISION[, modified], built DATE, GOVERSION)",
// with the parts that are known.
func (v versionInfo) String() string {
	var extra []string
	if v.Revision != "" {
		extra = append(extra, "commit "+short(v.Revision))
	}
	if v.Modified {
		extra = append(extra, "modified")
	}
	if v.BuildDate != "" {
		extra = append(extra, "built "+v.BuildDate)
	}
	if v.GoVersion != "" {
		extra = append(extra, v.GoVersion)
	}
	if len(extra) == 0 {
		return v.Version
	}
	return v.Version + " (" + strings.Join(extra, ", ") + ")"
}

// versionOf builds the version from the -ldflags values ld (which win when
// set) and the binary's build information bi (nil when the binary has none).
func versionOf(ld linkerFlags, bi *debug.BuildInfo) versionInfo {
	v := versionInfo{Version: ld.Version, BuildDate: ld.BuildDate, GoVersion: runtime.Version()}
	if bi == nil {
		bi = &debug.BuildInfo{}
	}
	if bi.GoVersion != "" {
		v.GoVersion = bi.GoVersion
	}
	if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v.Version = bi.Main.Version
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	if ld.Commit != "" {
		v.Revision = ld.Commit
	}
	return v
}

// currentVersion is the running binary's version.
func currentVersion() versionInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return versionOf(linkerFlags{Version: version, Commit: commit, BuildDate: buildDate}, bi)
}

func newVersionCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version [-o text|json]",
		Short: "Print hoist's version",
		Long: `Version prints hoist's version, the Git commit it was built from, its build
date and the Go version, the parts the binary records: make build, make release
and make image set all of them; go install records the module version.
hoist --version prints the same line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVersion(currentVersion(), output, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func runVersion(v versionInfo, output string, stdout io.Writer) error {
	switch output {
	case "text":
		_, err := fmt.Fprintln(stdout, "hoist", v)
		return err
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return usage(fmt.Errorf("--output %q: want text or json", output))
}
