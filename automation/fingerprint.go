package automation

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/policy"
)

// fingerprintVersion changes when what Fingerprint covers changes, so
// that fingerprints of an older hoist miss.
const fingerprintVersion = 1

// Fingerprint identifies what a policy's selection depends on besides the
// tag list: the policy's spec, what it is compiled from (with its
// ImageRepository's exclusionList, or the default one), the repository's
// image (the selected reference's) and the semantics of the API group it
// was written in. Two policies with one fingerprint select the same
// reference from the same tag list; other fields of the ImageRepository
// (interval, secretRef, timeout) do not count. It is empty for a policy
// without an ImageRepository.
//
// The service keeps it with each selection in the state store: after a
// restart, a stored selection is the policy's own only while the
// fingerprints agree (see docs/state-and-secrets.md).
func Fingerprint(p *config.Policy) string {
	if p == nil || p.ImagePolicy == nil || p.Repository == nil || p.Repository.ImageRepository == nil {
		return ""
	}
	h := sha256.New()
	// Encoding plain structs cannot fail; a map's keys are sorted.
	_ = json.NewEncoder(h).Encode(struct {
		Version  int                      `json:"v"`
		Policy   v1alpha1.ImagePolicySpec `json:"policy"`
		Compiled policy.Spec              `json:"compiled"`
		Image    string                   `json:"image"`
		Flux     bool                     `json:"flux"`
	}{fingerprintVersion, p.Spec, config.PolicySpec(p.ImagePolicy, p.Repository.ImageRepository, p.Source.Flux), p.Repository.Spec.Image, p.Source.Flux})
	return hex.EncodeToString(h.Sum(nil))
}
