package automation

// SelectionMemoHits counts the selections s answered from its memo.
func SelectionMemoHits(s *Scanner) int {
	s.memo.mu.Lock()
	defer s.memo.mu.Unlock()
	return s.memo.hits
}
