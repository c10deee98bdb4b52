package service

// MatchWebhooksEach makes s match each webhook against every repository of
// its receiver, building each one's document, as before receivers' targets
// were keyed by image. Call it before Load.
func MatchWebhooksEach(s *Service) { s.webhookEach = true }
