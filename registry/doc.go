// Package registry reads container registries the way a careful client does:
// every page of a repository's tags, the digest of a tag (HEAD first), and the
// facts of an image that a policy may need (build time, platforms), fetched
// only when asked and cached by digest.
//
// A Client is built once with New and shared by every scan: its per-host
// token bucket and concurrency cap are shared by all repositories on a host.
// Credentials come, in this order, from the Repo (for example a
// .dockerconfigjson secret read with ReadDockerConfigSecret), from the
// cloud identity of Repo.Provider (ECR, Artifact Registry and GCR, ACR; see
// cloud.go), from Docker's config.json and its credential helpers, and else
// the registry is used anonymously. A token realm on a private IP address is
// used only on the registry's own host or when Repo.RealmHosts names it. Credentials never appear in a log line, an error or an
// observed request.
//
// HTTP behaviour is a stack of http.RoundTripper wrappers assembled in one
// place (see newTransport): user agent, retry with backoff honouring
// Retry-After, per-host limits that also read Docker Hub's ratelimit headers,
// and request observation. Authentication (basic and bearer tokens) is
// go-containerregistry's, layered on top per repository.
package registry
