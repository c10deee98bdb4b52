{
  name: 'app',
  # a hash comment
  repo: "ghcr.io/example/app" # {"$imagepolicy": "apps:app:name"}
}
