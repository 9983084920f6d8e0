#!/usr/bin/env bash
# Builds Toxiproxy (the fault proxy `npm run nemesis` puts between every service and every store)
# from its Go module into the git-ignored .tools/bin, as tools/install-helm.sh does for helm.
# Idempotent: a binary already built at the wanted version is kept.
# Usage: bash tools/install-toxiproxy.sh
set -euo pipefail

TOXIPROXY_VERSION=v2.12.0

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.tools/bin"
mkdir -p "$bin"

if ! command -v go >/dev/null 2>&1; then
  echo "install-toxiproxy: Go is needed to build Toxiproxy (https://go.dev/doc/install)" >&2
  exit 1
fi

if [ -x "$bin/toxiproxy-server" ] && "$bin/toxiproxy-server" --version 2>/dev/null | grep -q "version $TOXIPROXY_VERSION\$"; then
  echo "install-toxiproxy: toxiproxy-server $TOXIPROXY_VERSION already in .tools/bin"
  exit 0
fi
echo "install-toxiproxy: building toxiproxy-server $TOXIPROXY_VERSION (about a minute)"
# `go install` names the binary after its folder (server): build into a scratch GOBIN, then rename.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
GOBIN="$scratch" GOFLAGS=-buildvcs=false go install \
  -ldflags "-s -w -X github.com/Shopify/toxiproxy/v2.Version=$TOXIPROXY_VERSION" \
  "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
mv "$scratch/server" "$bin/toxiproxy-server"
"$bin/toxiproxy-server" --version
