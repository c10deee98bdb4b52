resource "kubernetes_deployment" "app" {
  image = "ghcr.io/example/app:1.0.0" # {"$imagepolicy": "apps:app"}
  other = "ghcr.io/example/app:1.0.0" # not a marker
}
