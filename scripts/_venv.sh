# shellcheck shell=bash
# Shared by scripts/test, scripts/demo and .ci/run: source it, then call
#   formwork_venv '.[test]'      (or '.', '.[postgres]', ...)
# It creates .venv with `python3 -m venv` when missing (or broken) and runs
# `pip install -e <spec>` only when pyproject.toml changed since the last
# install of that spec (a stamp file inside .venv holds the hash).

FORMWORK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FORMWORK_VENV="$FORMWORK_ROOT/.venv"

_fw_say() { printf '%s\n' "formwork: $*" >&2; }

_fw_is_root() { [ "$(id -u)" -eq 0 ]; }

_fw_apt_get() {
    # Wait for another apt/dpkg process rather than failing on its lock.
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@"
}

_fw_apt_update() {
    # DPkg::Lock::Timeout covers the dpkg locks, not always the lists lock
    # that `apt-get update` takes: retry while another apt holds it (<= 5 min).
    local try err
    for try in $(seq 1 60); do
        if err="$(_fw_apt_get update -qq 2>&1)"; then
            return 0
        fi
        case "$err" in
            *"Could not get lock"* | *"Unable to lock"*)
                [ "$try" -eq 1 ] && _fw_say "waiting for another apt process to finish"
                sleep 5 ;;
            *) printf '%s\n' "$err" >&2; return 1 ;;
        esac
    done
    printf '%s\n' "$err" >&2
    return 1
}

_fw_hash() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
    fi
}

_fw_create_venv() {
    local python="${FORMWORK_PYTHON:-python3}"
    if ! command -v "$python" >/dev/null 2>&1; then
        _fw_say "error: '$python' not found; install Python 3.11 or newer"
        return 1
    fi
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        _fw_say "error: Python 3.11 or newer is required, '$python' is $("$python" -V 2>&1)"
        return 1
    fi
    _fw_say "creating $FORMWORK_VENV with $("$python" -V 2>&1)"
    rm -rf "$FORMWORK_VENV"
    if "$python" -m venv "$FORMWORK_VENV"; then
        return 0
    fi
    # Debian ships venv/ensurepip in a separate package (python3.X-venv).
    rm -rf "$FORMWORK_VENV"
    if _fw_is_root && command -v apt-get >/dev/null 2>&1; then
        local ver
        ver="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
        _fw_say "python3 -m venv failed; installing Debian's python$ver-venv"
        _fw_apt_update
        _fw_apt_get install -y -qq "python$ver-venv" || _fw_apt_get install -y -qq python3-venv
        "$python" -m venv "$FORMWORK_VENV" && return 0
        rm -rf "$FORMWORK_VENV"
    fi
    _fw_say "error: could not create a virtualenv; on Debian: apt-get install python3-venv"
    return 1
}

formwork_venv() {
    local spec="${1:-.}"
    local stamp_name hash
    # One stamp per install spec, so scripts/test and scripts/demo do not
    # keep invalidating each other.
    stamp_name="$(printf '%s' "$spec" | tr -c 'A-Za-z0-9' '_')"
    local stamp="$FORMWORK_VENV/.formwork-installed-$stamp_name"

    if [ -e "$FORMWORK_VENV" ] && ! "$FORMWORK_VENV/bin/python" -c '' >/dev/null 2>&1; then
        _fw_say "$FORMWORK_VENV is broken (its Python is gone?); recreating it"
        rm -rf "$FORMWORK_VENV"
    fi
    if [ ! -x "$FORMWORK_VENV/bin/python" ]; then
        _fw_create_venv || return 1
    fi

    hash="$(_fw_hash "$FORMWORK_ROOT/pyproject.toml")"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
        return 0
    fi
    _fw_say "installing -e '$spec' into .venv (pyproject.toml changed or first run)"
    rm -f "$stamp"
    if ! (cd "$FORMWORK_ROOT" && PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$FORMWORK_VENV/bin/python" -m pip install -q -e "$spec"); then
        _fw_say "error: pip install -e '$spec' failed (see above)"
        return 1
    fi
    printf '%s\n' "$hash" >"$stamp"
}
