#!/bin/sh
# Builds the Dockerfile's base images (node:20-bookworm and
# node:20-bookworm-slim) locally, for machines that cannot reach a container
# registry: a Debian bookworm root from the Debian mirror apt already uses
# (mmdebstrap), plus this machine's Node.js 20 and npm. Needs root, podman,
# mmdebstrap, and node 20 on PATH. This machine's own certificate
# authorities (/usr/local/share/ca-certificates, e.g. a TLS-inspecting proxy's)
# go into the base too, with NODE_EXTRA_CA_CERTS, so npm and apt in the build
# trust what the host trusts.
set -eu
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" = 20 ] || { echo "local-base.sh: node on PATH is $(node --version), the Dockerfile's base needs Node 20" >&2; exit 1; }
node_bin=$(command -v node)
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
work=$(mktemp -d /tmp/tsbpf-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
# One root serves both tags: the build stage installs what it needs with apt-get.
mmdebstrap --variant=minbase --include=ca-certificates \
  --customize-hook="mkdir -p \"\$1/usr/local/bin\" \"\$1/usr/local/lib/node_modules\"" \
  --customize-hook="copy-in $node_bin /usr/local/bin" \
  --customize-hook="copy-in $npm_dir /usr/local/lib/node_modules" \
  --customize-hook="chroot \"\$1\" ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm" \
  --customize-hook='for ca in /usr/local/share/ca-certificates/*.crt; do [ -e "$ca" ] && cp "$ca" "$1/usr/local/share/ca-certificates/"; done; chroot "$1" update-ca-certificates' \
  bookworm "$work/root.tar"
podman import --change 'CMD ["node"]' --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' "$work/root.tar" docker.io/library/node:20-bookworm
podman tag docker.io/library/node:20-bookworm docker.io/library/node:20-bookworm-slim
