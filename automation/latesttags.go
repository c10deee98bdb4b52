package automation

// LatestTagsCount is how many tags LatestTags keeps: Flux's
// ImageRepository.status.lastScanResult.latestTags has ten.
const LatestTagsCount = 10

// LatestTags returns the n greatest of tags in descending byte order (ties
// kept), skipping those excluded says to skip, and how many tags are not
// skipped: Flux's lastScanResult.latestTags and tagCount, whose sort is a
// plain reverse string sort ("9" before "10", "v2" before "v10"). It does
// not modify tags, and takes O(len(tags)·n) time with one allocation.
// excluded may be nil.
func LatestTags(tags []string, excluded func(string) bool, n int) (latest []string, count int) {
	if n <= 0 {
		n = LatestTagsCount
	}
	for _, t := range tags {
		if excluded != nil && excluded(t) {
			continue
		}
		count++
		if len(latest) == n && t <= latest[n-1] {
			continue
		}
		if latest == nil {
			latest = make([]string, 0, n)
		}
		// Insert t after the tags greater than or equal to it.
		i := len(latest)
		for i > 0 && latest[i-1] < t {
			i--
		}
		if len(latest) < n {
			latest = append(latest, "")
		}
		copy(latest[i+1:], latest[i:len(latest)-1])
		latest[i] = t
	}
	return latest, count
}
