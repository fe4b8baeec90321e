#!/usr/bin/env bash
# Regenerates crates/packetwire-proto/tests/golden/vectors.json with Python's EasyNetwork.
#
# Usage: scripts/golden/regenerate.sh [OUTPUT]
# Environment: GOLDEN_VENV (default .venv/golden), GOLDEN_PYTHON (default python3); see venv.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=venv.sh
source "$here/venv.sh"
golden_venv_setup
exec "$GOLDEN_PY" "$here/generate.py" "$@"
