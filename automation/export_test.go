package automation

// SelectionMemoHits counts the selections s answered from its memo.
func SelectionMemoHits(s *Scanner) int {
	s.memo.mu.Lock()
	defer s.memo.mu.Unlock()
	return s.memo.hits
}

// ReadDocumentsEveryRun makes r load the repository's documents on every
// run, as before they were remembered per commit.
func ReadDocumentsEveryRun(r *Runner) { r.noDocCache = true }
