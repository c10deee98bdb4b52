// Package webhook turns registry webhook requests into rescans.
//
// A Handler serves each Receiver at Flux's path, "/hook/" followed by the hex
// SHA-256 of token+name+namespace (see Path), so that a sender configured for
// Flux's notification-controller works unchanged. For each request it
// authenticates the sender, reads the payload with the parser of the
// receiver's type (see Parse) and calls the caller's Trigger with the image
// repositories the payload names, normalised (see Normalize). The caller
// rescans those of the receiver's ImageRepositories whose image the payload
// names (see Selects and Match), typically through a Coalescer so that a storm
// of requests runs one rescan per repository at a time.
//
// A payload is never trusted as the source of a tag: its tags are logged, and
// the rescan asks the registry what tags exist.
//
// # Authentication
//
// The path is secret for every type but generic-oidc (it is derived from the
// token). On top of it, each type checks what its sender can send:
//   - dockerhub, quay, generic: nothing more; Docker Hub and Quay cannot sign.
//   - github: X-Hub-Signature-256: sha256=HEX, the HMAC-SHA256 of the body
//     keyed with the token; GitHub's legacy SHA-1 X-Hub-Signature only when
//     no X-Hub-Signature-256 is sent.
//   - gitlab: X-Gitlab-Token: the token.
//   - bitbucket: X-Hub-Signature: ALG=HEX, as generic-hmac.
//   - nexus: X-Nexus-Webhook-Signature: HEX, the HMAC-SHA1 of the body.
//   - acr, cdevents: the path only.
//   - gcr: Authorization: "Bearer " + a Google ID token (a Pub/Sub push
//     subscription's), verified against the key set of WithIDTokenKeys:
//     signature, expiry, issuer accounts.google.com, email_verified, and
//     the receiver's Audience and Email when set.
//   - generic-oidc: no token (its path is Path("", name, namespace), as in
//     Flux); Authorization: "Bearer " + an OIDC ID token from the issuer of
//     one of the receiver's OIDCProviders, verified against the key set its
//     discovery document names (fetched with WithOIDCClient's client, then
//     cached): signature, expiry, audience, and the provider's CEL
//     validations over its claims, which resourceFilter then sees.
//   - generic-hmac: X-Signature: ALG=HEX, the HMAC of the body keyed with the
//     token, ALG being sha256, sha512 or sha1, as Flux accepts.
//   - harbor: Authorization: the token, as Flux checks it (Harbor's "Auth
//     Header" setting), or "Bearer " + the token.
//   - distribution: Authorization: "Bearer " + the token (a header of the
//     endpoint in Distribution's notifications configuration), or the token
//     alone.
//
// generic, generic-hmac and generic-oidc take any content type and ignore the body; github
// takes JSON or a form with a payload field; the others take JSON
// (application/json or application/*+json). A request without Content-Type
// is read as JSON.
//
// Comparisons of secrets run in constant time, and the receiver is looked up
// by a hash of the request's path, so that response times say nothing about
// the paths served. Neither tokens, paths nor signatures are ever logged.
//
// # Responses
//
//	202 Accepted               the trigger was called
//	200 OK                     valid and authenticated, but nothing to rescan
//	                           (a ping, a blob push, a deletion, an event not
//	                           in the receiver's Events)
//	400 Bad Request            the payload cannot be read
//	401 Unauthorized           a signature or Authorization header is missing
//	                           or wrong
//	404 Not Found              no receiver is served at the path
//	405 Method Not Allowed     not a POST (Flux's generic type accepts any
//	                           method; every sender here POSTs)
//	413 Content Too Large      the body is over the limit (WithBodyLimit)
//	415 Unsupported Media Type a JSON type was sent something else
//	500 Internal Server Error  the trigger failed (a resource that does not
//	                           exist, a resourceFilter that fails)
//	503 Service Unavailable    the receiver is suspended
//
// Only 202 and 500 call the trigger. Each request is reported once to the observer
// (WithObserver) with one of the Outcome constants.
//
// # Which repositories a payload names
//
// dockerhub: "docker.io/" + repository.repo_name. harbor: each
// event_data.resources[].resource_url of a PUSH_ARTIFACT (2.x) or pushImage
// (1.x) event that has a tag. quay: docker_url, else "quay.io/" + repository.
// github: for package and registry_package events of a container package
// version with a tag, the host of package_version.package_url (else ghcr.io)
// + "/" + the owner's login + "/" + the package's name. distribution: for each
// push event of a manifest or index with a tag, request.host (else the host of
// target.url) + "/" + target.repository. acr: request.host + "/" +
// target.repository. gcr: the repository of the tag (else the digest) of
// message.data, base64 JSON, of an INSERT. The generic types (generic-oidc too), gitlab, bitbucket, nexus, cdevents and
// payloads without a repository name none: the trigger gets nil, meaning
// every resource of the receiver.
//
// A payload that names a repository that none of the receiver's resources
// watches is accepted (202), and the caller's Selects finds nothing to
// rescan: the handler does not know the images of the resources.
package webhook
