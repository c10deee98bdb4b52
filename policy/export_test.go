package policy

import "github.com/Masterminds/semver/v3"

var semverNewVersion = semver.NewVersion
