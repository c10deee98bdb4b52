#!/bin/sh
IMAGE="ghcr.io/example/app:1.1.0" # {"$imagepolicy": "apps:app"}
