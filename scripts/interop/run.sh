#!/usr/bin/env bash
# Interop with Python EasyNetwork over real sockets, both ways:
#
#   clients: EasyNetwork's servers (TCP, UDP, Unix stream, Unix datagram; several serializers)
#            answered packetwire's clients: `packetwire send` (blocking clients) and the
#            `interop_clients` example (async clients on tokio and smol, and blocking ones);
#   servers: EasyNetwork's clients talked to `packetwire serve`.
#
# Usage: scripts/interop/run.sh [clients|servers|all]   (default: all)
#
# Prints one line per case and a summary `N passed, M failed`; exits non-zero on any failure.
# Environment: GOLDEN_VENV / GOLDEN_PYTHON (the virtualenv with EasyNetwork, see
# scripts/golden/venv.sh); CARGO_TARGET_DIR.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../golden/venv.sh
source "$root/scripts/golden/venv.sh"
golden_venv_setup || exit 1
what=${1:-all}

target=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build -q --release -p packetwire-cli &&
    cargo build -q --release -p packetwire --example interop_clients --features smol) || exit 1
pw=$target/release/packetwire
clients=$target/release/examples/interop_clients
peer=$here/easynetwork_peer.py

work=$(mktemp -d /tmp/packetwire-interop.XXXXXX)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }

# start_server LOG CMD...: starts CMD in the background and waits for its `ready ADDR` line (on
# stdout or stderr); sets server_pid and server_addr.
start_server() {
    local log=$1
    shift
    # A FIFO on stdin that stays open: the Python peer stops when its stdin ends.
    "$@" <"$work/hold" >"$log" 2>&1 &
    server_pid=$!
    server_addr=
    for _ in $(seq 200); do
        server_addr=$(grep -m1 -o 'ready [^ ]*' "$log" 2>/dev/null | cut -d' ' -f2)
        [ -n "$server_addr" ] && return 0
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
    done
    return 1
}

stop_server() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
        server_pid=
    fi
}

mkfifo "$work/hold"
# Keep a writer on the FIFO for the whole run.
exec 9<>"$work/hold"

# The packets each case sends, as JSON; what EasyNetwork's answering server sends back.
packets_for() {
    case $1 in
    line) printf '%s\n' '"hello"' '"a line with spaces"' ;;
    *) printf '%s\n' '{"hello":"world","n":[1,2.5,null]}' '"text"' '[1,2,3]' '{"$bytes":"00ff10"}' ;;
    esac
}
answers_for() {
    case $1 in
    line) printf '%s\n' '"easynetwork: hello"' '"easynetwork: a line with spaces"' ;;
    *) printf '%s\n' '{"hello":"world","n":[1,2.5,null],"served_by":"easynetwork"}' \
        '"easynetwork: text"' '[1,2,3]' '{"$bytes":"00ff10"}' ;;
    esac
}

# The bytes packet only where the serializer carries bytes (msgpack, cbor, pickle).
filter_packets() {
    case $1 in
    json | json-raw) grep -v '\$bytes' ;;
    *) cat ;;
    esac
}

address() {
    case $1 in
    tcp) echo "tcp://127.0.0.1:0" ;;
    udp) echo "udp://127.0.0.1:0" ;;
    unix) echo "unix:$work/$2.sock" ;;
    unix-dgram) echo "unix-dgram:$work/$2.dgram" ;;
    esac
}

# Cases: transport serializer wrap ("-" for none).
cases() {
    for transport in tcp unix udp unix-dgram; do
        echo "$transport json -"
        echo "$transport msgpack -"
        echo "$transport cbor -"
        echo "$transport line -"
        echo "$transport json zlib,base64"
    done
    echo "udp pickle -"
    echo "unix-dgram pickle -"
    echo "tcp msgpack bz2"
}

run_clients() {
    local transport serializer wrap n=0
    while read -r transport serializer wrap; do
        n=$((n + 1))
        local wrapargs=() label="$transport $serializer${wrap/#-/}"
        [ "$wrap" != "-" ] && wrapargs=(--wrap "$wrap") && label="$transport $serializer+$wrap"
        local addr
        addr=$(address "$transport" "en$n")
        local pywrap=()
        [ "$wrap" != "-" ] && pywrap=(-w "$wrap")
        if ! start_server "$work/en$n.log" "$GOLDEN_PY" "$peer" server "$addr" -s "$serializer" "${pywrap[@]}"; then
            fail "clients: EasyNetwork $label server did not start: $(tail -3 "$work/en$n.log")"
            stop_server
            continue
        fi
        mapfile -t packets < <(packets_for "$serializer" | filter_packets "$serializer")
        local expected
        expected=$(answers_for "$serializer" | filter_packets "$serializer")
        local got
        got=$("$pw" send "$server_addr" -s "$serializer" "${wrapargs[@]}" --timeout 10 "${packets[@]}" 2>"$work/send.err")
        if [ "$got" == "$expected" ]; then
            pass "clients: packetwire send -> EasyNetwork $label"
        else
            fail "clients: packetwire send -> EasyNetwork $label: got [$got] expected [$expected] $(cat "$work/send.err")"
        fi
        # The library's clients: blocking, tokio and smol.
        got=$("$clients" "$server_addr" "$serializer" "${wrap/#-/}" "${packets[@]}" 2>"$work/clients.err")
        local want
        want=$(for flavour in blocking tokio smol; do
            # Each flavour prints the answers with its name in front.
            while IFS= read -r line; do echo "$flavour $line"; done <<<"$expected"
        done)
        if [ "$got" == "$want" ]; then
            pass "clients: blocking, tokio and smol clients -> EasyNetwork $label"
        else
            fail "clients: library clients -> EasyNetwork $label: got [$got] expected [$want] $(cat "$work/clients.err")"
        fi
        stop_server
    done < <(cases)
}

run_servers() {
    local transport serializer wrap n=0
    while read -r transport serializer wrap; do
        [ "$serializer" == "pickle" ] && continue
        n=$((n + 1))
        local wrapargs=() pywrap=() label="$transport $serializer"
        [ "$wrap" != "-" ] && wrapargs=(--wrap "$wrap") && pywrap=(-w "$wrap") && label="$transport $serializer+$wrap"
        local addr
        addr=$(address "$transport" "pw$n")
        if ! start_server "$work/pw$n.log" "$pw" serve "$addr" -s "$serializer" "${wrapargs[@]}"; then
            fail "servers: packetwire serve $label did not start: $(tail -3 "$work/pw$n.log")"
            stop_server
            continue
        fi
        mapfile -t packets < <(packets_for "$serializer" | filter_packets "$serializer")
        local expected got
        expected=$(printf '%s\n' "${packets[@]}")
        got=$("$GOLDEN_PY" "$peer" client "$server_addr" -s "$serializer" "${pywrap[@]}" "${packets[@]}" 2>"$work/en-client.err")
        if [ "$got" == "$expected" ]; then
            pass "servers: EasyNetwork client -> packetwire serve $label"
        else
            fail "servers: EasyNetwork client -> packetwire serve $label: got [$got] expected [$expected] $(cat "$work/en-client.err")"
        fi
        stop_server
        if [ "$transport" == unix ] || [ "$transport" == unix-dgram ]; then
            local path=${addr#*:}
            if [ -e "$path" ]; then
                fail "servers: packetwire serve $label left its socket file $path"
            fi
        fi
    done < <(cases)
}

case $what in
clients) run_clients ;;
servers) run_servers ;;
all)
    run_clients
    run_servers
    ;;
*)
    echo "usage: $0 [clients|servers|all]" >&2
    exit 2
    ;;
esac

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
