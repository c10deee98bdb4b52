local lib = import 'lib.libsonnet';
{
  // The image, kept by hoist.
  image: 'ghcr.io/example/app:1.1.0',  // {"$imagepolicy": "apps:app"}
  tag: "1.1.0", // {"$imagepolicy": "apps:app:tag"}
  name: lib.name,
}
