package writeback

import (
	"encoding/json"
	"strings"
)

// markerKey is the key of Flux's setter marker, the shorthand Flux registers
// with kyaml's fieldmeta: # {"$imagepolicy": "NAMESPACE:NAME[:PART]"}.
const markerKey = "$imagepolicy"

// markerHoldKey is hoist's extension of the marker that holds the value as
// it is: # {"$imagepolicy": "NAMESPACE:NAME", "hold": true}.
const markerHoldKey = "hold"

// parseMarker returns the marker's value from a line comment. Like Flux, the
// comment (after its leading #s) must be a JSON object whose values are all
// strings, except hoist's "hold", a boolean; anything else is an ordinary
// comment.
func parseMarker(comment string) (string, bool) {
	v, _, ok := parseMarkerHold(comment)
	return v, ok
}

// parseMarkerHold is parseMarker that also reports the marker's "hold".
func parseMarkerHold(comment string) (value string, hold, ok bool) {
	if !strings.Contains(comment, markerKey) {
		return "", false, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(strings.TrimLeft(comment, "#")), &m); err != nil {
		return "", false, false
	}
	for k, raw := range m {
		var err error
		if k == markerHoldKey {
			err = json.Unmarshal(raw, &hold)
		} else {
			var s string
			err = json.Unmarshal(raw, &s)
			if k == markerKey {
				value = s
			}
		}
		if err != nil || string(raw) == "null" {
			return "", false, false
		}
	}
	if value == "" {
		return "", false, false // a hold without a marker holds nothing
	}
	return value, hold, true
}

// splitMarker splits a marker's value into the policy key and the part.
// "apps:podinfo" is the full reference of policy apps:podinfo,
// "apps:podinfo:tag" its tag. A value with any other shape is a key that no
// policy has, which Plan reports.
func splitMarker(m string) (string, Part) {
	i := strings.LastIndexByte(m, ':')
	if i < 0 || strings.Count(m, ":") < 2 {
		return m, PartFull
	}
	switch p := Part(m[i+1:]); p {
	case PartTag, PartName, PartDigest, PartRegistry, PartRepository:
		return m[:i], p
	}
	return m, PartFull
}
