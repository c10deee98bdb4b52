package service

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/automation/state"
)

// Status is what the service answers at /status: each policy of the
// running configuration with its last selection, and each automation with
// its last push, last success and last error.
type Status struct {
	Policies    []PolicyStatus     `json:"policies"`
	Automations []AutomationStatus `json:"automations"`
}

// PolicyStatus is one policy's last selection.
type PolicyStatus struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Image is the repository the policy selects from.
	Image string `json:"image"`
	// Ref is the last selection written to Git's markers (IMAGE:TAG, with
	// @DIGEST when the policy reflects digests); SelectedAt is when it
	// changed to that.
	Ref        string     `json:"ref,omitempty"`
	SelectedAt *time.Time `json:"selectedAt,omitempty"`
	// ScannedAt is when this process last scanned the policy's
	// repository, successfully or not.
	ScannedAt *time.Time `json:"scannedAt,omitempty"`
	Suspended bool       `json:"suspended,omitempty"`
	// Held reports the policy's spec.hold: its values in Git stay as
	// they are.
	Held bool `json:"held,omitempty"`
	// Error is why the last scan selected nothing.
	Error string `json:"error,omitempty"`
	// Warning says that the last scan used the cached tag list because
	// the registry failed transiently, and why.
	Warning string `json:"warning,omitempty"`
}

// AutomationStatus is one automation's last runs.
type AutomationStatus struct {
	Namespace   string            `json:"namespace"`
	Name        string            `json:"name"`
	LastPush    *state.PushRecord `json:"lastPush,omitempty"`
	LastSuccess *time.Time        `json:"lastSuccess,omitempty"`
	Suspended   bool              `json:"suspended,omitempty"`
	// Error is why the last run failed, or which of its targets did.
	Error string `json:"error,omitempty"`
	// Kept are the changes the last run kept back: held, after a manual
	// change, or downgrades.
	Kept []automation.Kept `json:"kept,omitempty"`
}

// noteKept records the changes an automation's last run kept back.
func (s *Service) noteKept(key string, kept []automation.Kept) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(kept) == 0 {
		delete(s.kept, key)
		return
	}
	if s.kept == nil {
		s.kept = map[string][]automation.Kept{}
	}
	s.kept[key] = kept
}

// noteError records (or, with err nil, clears) the last error of a policy
// ("policy NAMESPACE:NAME") or automation ("automation NAMESPACE/NAME").
func (s *Service) noteError(key string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.errs, key)
		return
	}
	s.errs[key] = err.Error()
}

// noteWarning records (or, with warning empty, clears) why the last scan
// of a policy (NAMESPACE:NAME) used a stale tag list.
func (s *Service) noteWarning(policy, warning string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if warning == "" {
		delete(s.warnings, policy)
		return
	}
	if s.warnings == nil {
		s.warnings = map[string]string{}
	}
	s.warnings[policy] = warning
}

// Status reports the running configuration's policies and automations,
// from the state store and the errors of the last scans and runs.
func (s *Service) Status() Status {
	set := s.cur.Load()
	out := Status{Policies: []PolicyStatus{}, Automations: []AutomationStatus{}}
	if set == nil {
		return out
	}
	st := s.o.Runner.State
	s.mu.Lock()
	errs := make(map[string]string, len(s.errs))
	for k, v := range s.errs {
		errs[k] = v
	}
	warnings := maps.Clone(s.warnings)
	kept := maps.Clone(s.kept)
	scanned := make(map[string]time.Time, len(s.scanned))
	for k, v := range s.scanned {
		scanned[k] = v
	}
	s.mu.Unlock()
	var selections map[string]state.SelectionRecord
	if st != nil {
		selections, _ = st.Selections() // unreadable: shown without
		if selections == nil {
			selections = map[string]state.SelectionRecord{}
		}
		s.records.overlay(selections) // the last scans', not yet written
	}
	for _, p := range set.Policies {
		ps := PolicyStatus{Namespace: p.Namespace, Name: p.Name, Suspended: p.Spec.Suspend, Held: p.Spec.Hold, Error: errs["policy "+p.Namespace+":"+p.Name], Warning: warnings[p.Namespace+":"+p.Name]}
		if p.Repository != nil {
			ps.Image = p.Repository.Spec.Image
			ps.Suspended = ps.Suspended || p.Repository.Spec.Suspend
			if t, ok := scanned[p.Repository.Namespace+"/"+p.Repository.Name]; ok {
				ps.ScannedAt = &t
			}
		}
		if r, ok := selections[p.Namespace+":"+p.Name]; ok {
			ps.Ref, ps.SelectedAt = r.Ref, &r.At
		}
		out.Policies = append(out.Policies, ps)
	}
	for _, a := range set.Automations {
		key := a.Namespace + "/" + a.Name
		as := AutomationStatus{Namespace: a.Namespace, Name: a.Name, Suspended: a.Spec.Suspend, Error: errs["automation "+key], Kept: kept[key]}
		if st != nil {
			if r, ok, err := st.LastPush(key); err == nil && ok {
				as.LastPush = &r
			}
			if t, ok, err := st.LastSuccess(key); err == nil && ok {
				as.LastSuccess = &t
			}
		}
		out.Automations = append(out.Automations, as)
	}
	sort.Slice(out.Policies, func(i, j int) bool {
		a, b := out.Policies[i], out.Policies[j]
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	sort.Slice(out.Automations, func(i, j int) bool {
		a, b := out.Automations[i], out.Automations[j]
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	return out
}

func (s *Service) serveStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.Status()) // the client went away
}

// runError sums up a run's failure for the status: the run's error, or
// its failed targets.
func runError(res automation.RunResult) error {
	if res.Err != nil {
		return res.Err
	}
	if len(res.Errors) == 0 {
		return nil
	}
	msgs := make([]string, 0, len(res.Errors))
	for _, e := range res.Errors {
		msgs = append(msgs, e.Error())
	}
	return errors.New(strings.Join(msgs, "; "))
}
