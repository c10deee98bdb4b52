package state

import "time"

// StoredSuccess reads the success time of key from the file alone, not
// the times PutRun keeps back.
func StoredSuccess(s *Store, key string) (time.Time, bool, error) {
	var t time.Time
	ok, err := s.get("last success", stateBucketSuccesses, key, &t)
	return t, ok, err
}
