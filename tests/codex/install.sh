#!/usr/bin/env bash
# Install the pinned Codex CLI (npm package @openai/codex) for the
# end-to-end tests, once, into a cache directory; print the path of its
# `codex` command (the npm launcher, a node script that execs the native
# binary).
#
#   bash tests/codex/install.sh            # install when absent, print the path
#   RAMPART_CODEX_CACHE=DIR bash tests/codex/install.sh
#
# The cache is $RAMPART_CODEX_CACHE, else ~/.cache/rampart-ci; each version
# has its own directory (codex-<version>), filled in a temp directory and
# renamed into place, so a half-finished install is never used and two
# concurrent runs do not collide.
set -euo pipefail

VERSION=0.169.0
cache="${RAMPART_CODEX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rampart-ci}"
dest="$cache/codex-$VERSION"
launcher="$dest/node_modules/.bin/codex"

if [ ! -x "$launcher" ]; then
  command -v npm >/dev/null || { echo "install.sh: npm is required to install @openai/codex@$VERSION" >&2; exit 3; }
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.codex-$VERSION.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  echo "install.sh: installing @openai/codex@$VERSION into $dest" >&2
  npm install --prefix "$tmp" --cache "$cache/npm" --no-audit --no-fund --no-save --loglevel=error \
    "@openai/codex@$VERSION" >&2
  [ -x "$tmp/node_modules/.bin/codex" ] || { echo "install.sh: npm did not install a codex command" >&2; exit 1; }
  # Another run may have finished first: keep its copy.
  mv -T "$tmp" "$dest" 2>/dev/null || true
fi
# The launcher must find its platform's native binary (an optional npm
# dependency) and run it.
"$launcher" --version >/dev/null || { echo "install.sh: $launcher does not run" >&2; exit 1; }
echo "$launcher"
