# Sourced by regenerate.sh and check_rust_output.sh: sets up (or reuses) the golden virtualenv.
#
#   GOLDEN_VENV    where the virtualenv lives (default: <repo>/.venv/golden)
#   GOLDEN_PYTHON  the interpreter that creates it (default: python3; EasyNetwork 1.2.0 needs >= 3.11)
#
# After `golden_venv_setup`, GOLDEN_PY is the virtualenv's python. The requirements are installed
# again only when requirements.txt changed since the last install (a hash is kept in the venv).

golden_venv_setup() {
    local here root python requirements stamp want
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    root=$(cd "$here/../.." && pwd)
    GOLDEN_VENV=${GOLDEN_VENV:-$root/.venv/golden}
    python=${GOLDEN_PYTHON:-python3}
    requirements=$here/requirements.txt
    stamp=$GOLDEN_VENV/.packetwire-requirements.sha256

    if [ ! -x "$GOLDEN_VENV/bin/python" ]; then
        if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            echo "golden: $python is older than Python 3.11 (set GOLDEN_PYTHON)" >&2
            return 1
        fi
        echo "golden: creating virtualenv $GOLDEN_VENV" >&2
        "$python" -m venv "$GOLDEN_VENV" || return 1
    fi
    want=$(sha256sum "$requirements" | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "golden: installing $requirements" >&2
        "$GOLDEN_VENV/bin/python" -m pip install --disable-pip-version-check --quiet \
            --requirement "$requirements" || return 1
        echo "$want" >"$stamp"
    fi
    GOLDEN_PY=$GOLDEN_VENV/bin/python
}
