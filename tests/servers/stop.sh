# Sourced by prosody.sh and ejabberd.sh: stop_pids PID... sends TERM, then
# KILL to what is left after 10 s, so that the server's ports are free when
# it returns.
stop_pids() {
    local p left=""
    for p in "$@"; do kill "$p" 2>/dev/null || true; done
    for _ in $(seq 100); do
        left=""
        for p in "$@"; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
        [ -z "$left" ] && return 0
        sleep 0.1
    done
    for p in $left; do kill -KILL "$p" 2>/dev/null || true; done
    return 0
}
