#!/usr/bin/env bash
# Builds the container image of every service from its Dockerfile (build context: the
# repository root) and, with PUSH=1, pushes it:
#   $REGISTRY/api  grpc-server  worker-kafka  worker-rabbit  dashboard  rungame  (:$TAG)
#
# Environment:
#   REGISTRY   image name prefix (default: squidgame, the names kubernetes/ uses),
#              e.g. REGISTRY=registry.example.com/squidgame
#   TAG        image tag (default: the workspace version in Cargo.toml)
#   PUSH=1     push each image after building it (log in to the registry first)
#   SERVICES   a space-separated subset to build (default: all of them)
#   DOCKER     the Docker-compatible CLI (default: docker; podman works too)
#
# The images share one BuildKit cache for the cargo registry and target directory, so
# the second and later images reuse the compiled dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL="api grpc-server worker-kafka worker-rabbit dashboard rungame"
DOCKER=${DOCKER:-docker}
REGISTRY=${REGISTRY:-squidgame}
REGISTRY=${REGISTRY%/}
TAG=${TAG:-$(sed -n '/^\[workspace\.package\]/,/^\[/ s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)}
SERVICES=${SERVICES:-$ALL}

die() {
    echo "images.sh: $*" >&2
    exit 1
}

command -v "$DOCKER" >/dev/null 2>&1 \
    || die "no '$DOCKER' command found: install Docker (or set DOCKER=podman) to build the images"
timeout 30 "$DOCKER" info >/dev/null 2>&1 \
    || die "no Docker engine reachable ('$DOCKER info' failed${DOCKER_HOST:+ for DOCKER_HOST=$DOCKER_HOST}): start the Docker daemon or set DOCKER_HOST"
[ -n "$TAG" ] || die "could not read the workspace version from Cargo.toml: set TAG"
for svc in $SERVICES; do
    case " $ALL " in
        *" $svc "*) ;;
        *) die "unknown service '$svc' (known: $ALL)" ;;
    esac
done

for svc in $SERVICES; do
    image="$REGISTRY/$svc:$TAG"
    echo "==> building $image"
    DOCKER_BUILDKIT=1 "$DOCKER" build --file "$svc/Dockerfile" --tag "$image" .
    if [ "${PUSH:-0}" = 1 ]; then
        echo "==> pushing $image"
        "$DOCKER" push "$image"
    fi
done
done_what=built
[ "${PUSH:-0}" = 1 ] && done_what="built and pushed"
echo "images.sh: $done_what $(echo $SERVICES | wc -w) image(s) as $REGISTRY/<service>:$TAG"
