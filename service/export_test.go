package service

// MatchWebhooksEach makes s match each webhook against every repository of
// its receiver, building each one's document, as before receivers' targets
// were keyed by image. Call it before Load.
func MatchWebhooksEach(s *Service) { s.webhookEach = true }

// GoroutineEachRun makes s start a goroutine for every run, as before a
// lane's goroutine took the next waiting run.
func GoroutineEachRun(s *Scheduler) { s.lanes.goroutineEach = true }
