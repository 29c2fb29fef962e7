#!/usr/bin/env bash
# One-command install: build rampart and librampart, put `rampart` in
# ~/.local/bin and the library in ~/.rampart/lib (or $RAMPART_HOME/lib).
set -euo pipefail
cd "$(dirname "$0")"
# Built separately: together, Cargo would unify features into the no_std library.
cargo build --release --locked -p rampart-preload
cargo build --release --locked -p rampart
bin="${RAMPART_BIN_DIR:-$HOME/.local/bin}"
home="${RAMPART_HOME:-$HOME/.rampart}"
case "$(uname -s)" in Darwin) lib=librampart.dylib ;; *) lib=librampart.so ;; esac
install -d -m 0755 "$bin"
install -m 0755 target/release/rampart "$bin/rampart"
install -d -m 0700 "$home"
install -d -m 0755 "$home/lib"
install -m 0755 "target/release/$lib" "$home/lib/$lib"
echo "installed $bin/rampart and $home/lib/$lib"
case ":$PATH:" in *":$bin:"*) ;; *) echo "add $bin to PATH, e.g.: export PATH=\"$bin:\$PATH\"" ;; esac
