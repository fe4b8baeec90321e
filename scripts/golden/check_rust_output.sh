#!/usr/bin/env bash
# Decodes the bytes that packetwire (Rust) wrote for every golden case with Python's EasyNetwork.
#
# Usage: scripts/golden/check_rust_output.sh [FILE]
#
# Run it after `cargo test` (at least `cargo test -p packetwire-proto --test golden`). That test
# writes FILE to `$CARGO_TARGET_TMPDIR/golden-rust-output.json`; cargo sets CARGO_TARGET_TMPDIR to
# `<target directory>/tmp`, i.e. `target/tmp/golden-rust-output.json` unless CARGO_TARGET_DIR or
# the cargo configuration moves the target directory (this script asks `cargo metadata`).
# GOLDEN_RUST_OUTPUT, or FILE, names another file.
#
# Prints one line per case and `N passed, M failed`; exits non-zero on any failure or if the file
# is missing. Environment: GOLDEN_VENV, GOLDEN_PYTHON (see venv.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=venv.sh
source "$here/venv.sh"
golden_venv_setup

file=${1:-${GOLDEN_RUST_OUTPUT:-}}
if [ -z "$file" ]; then
    target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" 2>/dev/null |
        "$GOLDEN_PY" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])') ||
        target_dir=${CARGO_TARGET_DIR:-$root/target}
    file=$target_dir/tmp/golden-rust-output.json
fi
if [ ! -f "$file" ]; then
    echo "golden: $file is missing: run 'cargo test -p packetwire-proto --test golden' first" >&2
    exit 1
fi
echo "golden: checking $file with EasyNetwork" >&2
exec "$GOLDEN_PY" "$here/verify_rust_output.py" "$file"
