{
  image: 'ghcr.io/example/app:1.0.0', // {"$imagepolicy": "apps:app"}
  broken: ,
}
