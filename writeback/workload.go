package writeback

import (
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// The annotation keys of annotated workloads (see
// docs/markers-and-annotations.md).
const (
	annHoistPolicy   = "hoist.dev/policy"
	annFluxTag       = "fluxcd.io/tag."
	annFluxAutomated = "fluxcd.io/automated"
	annKeelPolicy    = "keel.sh/policy"
	// annHold holds every target of the object it is on: "true".
	annHold = "hoist.dev/hold"
)

// podSpecPath returns where a workload kind keeps its pod spec.
func podSpecPath(kind string) []string {
	switch kind {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		return []string{"spec", "template", "spec"}
	case "CronJob":
		return []string{"spec", "jobTemplate", "spec", "template", "spec"}
	case "Pod":
		return []string{"spec"}
	}
	return nil
}

// workload makes targets of the containers of an annotated workload.
func (s *yamlScan) workload(m *yaml.Node, obj Object, flow bool) {
	path := podSpecPath(obj.Kind)
	if path == nil {
		return
	}
	meta := mapGet(m, "metadata")
	ann, labels := mapGet(meta, "annotations"), mapGet(meta, "labels")
	if ann == nil && labels == nil {
		return
	}
	spec := m
	for _, k := range path {
		spec = deref(mapGet(spec, k))
		if spec == nil {
			return
		}
		flow = flow || spec.Style&yaml.FlowStyle != 0
	}
	for _, list := range []string{"initContainers", "containers"} {
		seq := deref(mapGet(spec, list))
		if seq == nil || seq.Kind != yaml.SequenceNode {
			continue
		}
		seqFlow := flow || seq.Style&yaml.FlowStyle != 0
		for i, c := range seq.Content {
			c = deref(c)
			if c == nil || c.Kind != yaml.MappingNode {
				continue
			}
			name := scalarValue(mapGet(c, "name"))
			key, shorthand, ok := inlinePolicy(ann, labels, name)
			if !ok {
				continue
			}
			img := mapGet(c, "image")
			sc := deref(img)
			if sc == nil || sc.Kind != yaml.ScalarNode || sc.Value == "" {
				continue
			}
			if _, marked := parseMarker(img.LineComment); marked {
				continue // the marker's target
			}
			if _, marked := parseMarker(sc.LineComment); marked {
				continue
			}
			imgFlow := seqFlow || c.Style&yaml.FlowStyle != 0
			if sc != img {
				f, known := s.flow[sc]
				imgFlow = f || !known
			}
			field := joinField(append(append([]string{}, path...), list, seqElem(c, i), "image"))
			t, err := s.target(sc, obj, field, imgFlow)
			if err != nil {
				s.fail(sc.Line, field, err)
				return
			}
			r := splitRef(sc.Value)
			t.Policy = inlineKey(sc.Value, shorthand)
			t.Part = PartFull
			t.Inline = &Inline{
				Container:  name,
				Init:       list == "initContainers",
				Annotation: key,
				Shorthand:  shorthand,
				Repository: r.name,
				Tag:        r.tag,
				Digest:     r.digest,
			}
			s.out = append(s.out, t)
		}
	}
}

// inlinePolicy finds the policy of one container: hoist.dev/policy.NAME
// (an empty value opts the container out), hoist.dev/policy, Flux v1's
// fluxcd.io/tag.NAME under fluxcd.io/automated: "true", then Keel's
// keel.sh/policy (an annotation, or a label).
func inlinePolicy(ann, labels *yaml.Node, container string) (key, shorthand string, ok bool) {
	if container != "" {
		if v := mapGet(ann, annHoistPolicy+"."+container); v != nil {
			s := scalarValue(v)
			return annHoistPolicy + "." + container, s, s != ""
		}
	}
	if s := scalarValue(mapGet(ann, annHoistPolicy)); s != "" {
		return annHoistPolicy, s, true
	}
	if container != "" && scalarValue(mapGet(ann, annFluxAutomated)) == "true" {
		if s := scalarValue(mapGet(ann, annFluxTag+container)); s != "" {
			return annFluxTag + container, s, true
		}
	}
	if s := scalarValue(mapGet(ann, annKeelPolicy)); s != "" {
		return annKeelPolicy, s, true
	}
	if s := scalarValue(mapGet(labels, annKeelPolicy)); s != "" {
		return annKeelPolicy, s, true
	}
	return "", "", false
}
