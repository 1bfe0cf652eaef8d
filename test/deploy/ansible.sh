#!/usr/bin/env bash
# test/deploy/ansible.sh: runs the deploy/ansible role with a real ansible-playbook (connection:
# local) against a tsicorn this script starts (not under systemd: the role's handler reloads with
# `tsicorn reload -c FILE`, which goes through the control socket and waits for the outcome, then
# with `kill -HUP` of the pidfile), while curl loops send requests:
#   1. the role writes server.yaml (checked by `tsicorn check-config` through `validate:`);
#   2. a bad value (`workers: many`) is refused by validate: the play fails, the file on disk and
#      the running server are untouched, no reload happens;
#   3. good changes are applied and reloaded (a new RELEASE answers) with zero failed requests;
#   4. a second run with the same values changes nothing and does not reload;
#   5. the unit templates render to deploy/systemd/ exactly, and systemd-analyze verifies them.
# Exits non-zero on any failure; kills what it started and removes its files, also on failure.
# Needs: node, curl, ansible-playbook (apt-get install ansible-core), a built tree (npm run build).
# Not part of `npm test`: run it as `bash test/deploy/ansible.sh`.
set -uo pipefail

# Bound the whole run: the script re-runs itself under timeout (TERM runs the cleanup below).
if [ -z "${ANSIBLE_SH_BOUNDED:-}" ]; then
  ANSIBLE_SH_BOUNDED=1 exec timeout --kill-after=10 300 bash "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tsicorn-ansible.XXXXXX")
PASSED=0
FAILED=0
SERVER_PID=""
LOAD_PIDS=()

log() { printf '%s\n' "ansible.sh: $*"; }
pass() {
  PASSED=$((PASSED + 1))
  log "ok   $*"
}
fail() {
  FAILED=$((FAILED + 1))
  log "FAIL $*"
}
fatal() {
  fail "$*"
  exit 1
}

cleanup() {
  touch "$WORK/stop-load" 2>/dev/null
  for pid in "${LOAD_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${LOAD_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    # The master and its workers are one process group (setsid below).
    kill -TERM -- "-$SERVER_PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

for tool in node curl ansible-playbook; do
  command -v "$tool" >/dev/null || fatal "$tool is not installed (ansible-playbook: apt-get install ansible-core)"
done
[ -f "$ROOT/dist/src/cli/main.js" ] || fatal "tsicorn is not built: run npm run build"

NODE=$(command -v node)
PORT=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
URL="http://127.0.0.1:$PORT/"
CONFIG="$WORK/etc/server.yaml"
PIDFILE="$WORK/run/tsicorn.pid"
ERRORLOG="$WORK/log/error.log"
mkdir -p "$WORK/app" "$WORK/run" "$WORK/log" "$WORK/units" "$WORK/ansible-tmp"

cat >"$WORK/app/app.cjs" <<'EOF'
// Answers with the RELEASE the config's `env` gives the workers: what a reload changed shows.
module.exports = (req, res) => res.end(`release=${process.env.RELEASE} pid=${process.pid}\n`);
EOF

cat >"$WORK/site.yml" <<'EOF'
- name: tsicorn on this machine
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - tsicorn
EOF

# The role's variables for this machine: no systemd, no user to create, paths in $WORK. The units
# are still rendered (into $WORK/units) to check them. JSON, so every value keeps its type.
cat >"$WORK/vars.json" <<EOF
{
  "tsicorn_systemd": false,
  "tsicorn_install_units": true,
  "tsicorn_unit_dir": "$WORK/units",
  "tsicorn_create_user": false,
  "tsicorn_node": "$NODE",
  "tsicorn_bin": "$ROOT/bin/tsicorn",
  "tsicorn_app_dir": "$WORK/app",
  "tsicorn_config_path": "$CONFIG",
  "tsicorn_config_owner": "$(id -un)",
  "tsicorn_config_group": "$(id -gn)",
  "tsicorn_app": "app.cjs",
  "tsicorn_bind": ["127.0.0.1:$PORT"],
  "tsicorn_workers": 2,
  "tsicorn_graceful_timeout": 10,
  "tsicorn_pidfile": "$PIDFILE",
  "tsicorn_control_socket": "$WORK/run/control.sock",
  "tsicorn_metrics_bind": null,
  "tsicorn_env": {"RELEASE": "v1"},
  "tsicorn_log": {"level": "info", "format": "json", "errorlog": "$ERRORLOG", "accesslog": null}
}
EOF

export ANSIBLE_ROLES_PATH="$ROOT/deploy/ansible/roles" ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 \
  ANSIBLE_LOCALHOST_WARNING=0 ANSIBLE_INVENTORY_UNPARSED_WARNING=0 ANSIBLE_PYTHON_INTERPRETER=auto_silent \
  ANSIBLE_LOCAL_TEMP="$WORK/ansible-tmp" ANSIBLE_REMOTE_TEMP="$WORK/ansible-tmp" ANSIBLE_STDOUT_CALLBACK=default

# play NAME [ansible-playbook args...]: runs the playbook (at most 120 s), output in $WORK/NAME.out.
play() {
  local name=$1
  shift
  timeout 120 ansible-playbook -i localhost, "$WORK/site.yml" -e "@$WORK/vars.json" "$@" >"$WORK/$name.out" 2>&1
}
recap() { grep -E '^localhost +:' "$WORK/$1.out" | tail -1; }
show() { sed 's/^/    | /' "$WORK/$1.out" | tail -"${2:-30}"; }
fetch() { curl -s --max-time 5 "$URL"; }
rotations() { grep -c '"msg":"rotation finished"' "$ERRORLOG" 2>/dev/null || true; }
rotated_since() { [ "$(rotations)" -gt "$1" ]; }
# wait_for WHAT SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds or time is up.
wait_for() {
  local what=$1 deadline=$((SECONDS + $2))
  shift 2
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || { log "timed out after waiting for $what"; return 1; }
    sleep 0.1
  done
}
release_is() { fetch | grep -q "^release=$1 "; }

# 1. The first run writes the config; nothing runs yet, so the handler is a no-op here.
if play initial -e tsicorn_reload_command=/bin/true && [ -f "$CONFIG" ]; then
  pass "first run writes $CONFIG ($(recap initial | tr -s ' '))"
else
  show initial
  fatal "first run"
fi
grep -q '^workers: 2$' "$CONFIG" && grep -q 'RELEASE: v1' "$CONFIG" || fatal "the rendered config has the variables: $(cat "$CONFIG")"

# Start tsicorn from that config, as its own process group.
setsid "$NODE" "$ROOT/bin/tsicorn" -c "$CONFIG" >"$WORK/log/stdout" 2>"$WORK/log/stderr" </dev/null &
SERVER_PID=$!
if wait_for "the server to answer" 30 release_is v1 && [ "$(cat "$PIDFILE" 2>/dev/null)" = "$SERVER_PID" ]; then
  pass "tsicorn (pid $SERVER_PID) serves release v1 on $URL"
else
  sed 's/^/    | /' "$WORK/log/stderr" "$ERRORLOG" 2>/dev/null | tail -20
  fatal "tsicorn did not start"
fi

# The load: one loop with a new connection per request, one with 20 keep-alive requests per curl.
# Each writes one line per request: the status, or ERR when curl failed. Bounded in count and time.
load_loop() {
  local out=$1 batch=$2 deadline=$((SECONDS + 240)) i args code
  args=()
  for ((i = 0; i < batch; i++)); do args+=(-o /dev/null "$URL"); done
  for ((i = 0; i < 5000; i++)); do
    [ -e "$WORK/stop-load" ] && break
    [ "$SECONDS" -lt "$deadline" ] || break
    codes=$(curl -s --max-time 10 -w '%{http_code}\n' "${args[@]}")
    code=$?
    printf '%s\n' "$codes" >>"$out"
    [ "$code" -eq 0 ] || echo "ERR curl exit $code" >>"$out"
  done
}
load_loop "$WORK/load-close" 1 &
LOAD_PIDS+=($!)
load_loop "$WORK/load-keepalive" 20 &
LOAD_PIDS+=($!)
count_requests() { cat "$WORK"/load-* 2>/dev/null | grep -c . || true; }
requests_at_least() { [ "$(count_requests)" -ge "$1" ]; }
wait_for "the load to start" 20 requests_at_least 40 || fatal "the load loops send nothing"

# 2. A bad value: validate refuses it, the play fails, the server and its file are untouched.
sum_before=$(sha256sum "$CONFIG")
rotations_before=$(rotations)
if play bad -e '{"tsicorn_workers": "many"}'; then
  show bad
  fail "a config with workers: many fails the play"
else
  pass "a config with workers: many fails the play ($(recap bad | tr -s ' '))"
fi
# Ansible prints check-config's stderr JSON-escaped: \"many\".
message=$(grep -o 'source:[0-9]*:[0-9]*: workers: expected an integer from 1 to 1024 or \\"auto\\", got \\"many\\"' "$WORK/bad.out" | head -1)
if [ -n "$message" ]; then
  pass "validate shows check-config's error for Ansible's temp file: ${message//\\/}"
else
  show bad
  fail "the failure shows check-config's message"
fi
[ "$(sha256sum "$CONFIG")" = "$sum_before" ] && pass "the config on disk is unchanged" || fail "the config on disk is unchanged"
if kill -0 "$SERVER_PID" 2>/dev/null && release_is v1 && [ "$(rotations)" = "$rotations_before" ]; then
  pass "the running server keeps serving release v1, not reloaded"
else
  fail "the running server keeps serving release v1, not reloaded"
fi

# 3a. A good change, reloaded by the default handler command: `tsicorn reload -c FILE`.
rotations_before=$(rotations)
# Through the control socket, `tsicorn reload` waits for the rotation and prints its outcome.
if play good -v -e '{"tsicorn_workers": 3, "tsicorn_env": {"RELEASE": "v2"}}' && grep -q 'reloaded: generation [0-9]*, 3 workers' "$WORK/good.out"; then
  pass "a good change is applied; the handler's tsicorn reload said: $(grep -o 'reloaded: generation [0-9]*, 3 workers, in [0-9]* ms' "$WORK/good.out" | head -1) ($(recap good | tr -s ' '))"
else
  show good
  fail "a good change is applied and the handler runs tsicorn reload"
fi
if wait_for "release v2" 30 release_is v2 && wait_for "the rotation to finish" 30 rotated_since "$rotations_before"; then
  pass "the server reloaded: release v2 answers"
else
  fail "the server reloaded to release v2"
fi
grep -q '^workers: 3$' "$CONFIG" || fail "the new config has workers: 3"

# 3b. The other handler command: kill -HUP of the pidfile.
rotations_before=$(rotations)
cat >"$WORK/hup.json" <<EOF
{"tsicorn_workers": 3, "tsicorn_env": {"RELEASE": "v3"},
 "tsicorn_reload_command": "/bin/sh -c 'kill -HUP \"\$(cat $PIDFILE)\"'"}
EOF
if play hup -e "@$WORK/hup.json" && wait_for "release v3" 30 release_is v3 &&
  wait_for "the rotation to finish" 30 rotated_since "$rotations_before"; then
  pass "with tsicorn_reload_command = kill -HUP of the pidfile, release v3 is applied and reloaded"
else
  show hup
  fail "reload through kill -HUP of the pidfile"
fi

# 4. The same values again: nothing changes, no handler, no reload.
rotations_before=$(rotations)
if play again -e "@$WORK/hup.json" && recap again | grep -q 'changed=0 ' && ! grep -q 'RUNNING HANDLER' "$WORK/again.out"; then
  [ "$(rotations)" = "$rotations_before" ] && pass "a second run changes nothing and does not reload" ||
    fail "a second run does not reload"
else
  show again
  fail "a second run changes nothing"
fi

# The load ends here: every request, across the refused change and both reloads, got a 200.
touch "$WORK/stop-load"
for pid in "${LOAD_PIDS[@]}"; do wait "$pid"; done
LOAD_PIDS=()
total=$(count_requests)
bad=$(cat "$WORK"/load-* | grep -vc '^200$' || true)
if [ "$bad" -eq 0 ] && [ "$total" -ge 100 ]; then
  pass "load: $total requests ($(grep -c . "$WORK/load-close") on new connections, $(grep -c . "$WORK/load-keepalive") kept alive), 0 failed"
else
  cat "$WORK"/load-* | grep -v '^200$' | sort | uniq -c | sed 's/^/    | /'
  fail "load: $total requests, $bad not 200 (or fewer than 100 requests)"
fi

# 5. The units: rendered from the same templates with the role's defaults, they are deploy/systemd/.
units_ok=1
for variant in "socket:true:$WORK/defaults" "standalone:false:$WORK/defaults/standalone"; do
  IFS=: read -r name activation dir <<<"$variant"
  mkdir -p "$dir"
  timeout 60 ansible-playbook -i localhost, "$ROOT/test/deploy/render-units.yml" -e "out=$dir" \
    -e "{\"socket_activation\": $activation}" >"$WORK/render-$name.out" 2>&1 || { show "render-$name"; units_ok=0; }
done
diff -u "$ROOT/deploy/systemd/tsicorn.service" "$WORK/defaults/tsicorn.service" &&
  diff -u "$ROOT/deploy/systemd/tsicorn.socket" "$WORK/defaults/tsicorn.socket" &&
  diff -u "$ROOT/deploy/systemd/standalone/tsicorn.service" "$WORK/defaults/standalone/tsicorn.service" || units_ok=0
[ "$units_ok" = 1 ] && pass "deploy/systemd/ is what the role's templates render with its defaults" ||
  fail "deploy/systemd/ differs from the role's templates (regenerate: see test/deploy/render-units.yml)"
if command -v systemd-analyze >/dev/null; then
  if (cd "$WORK/units" && systemd-analyze verify tsicorn.socket tsicorn.service >"$WORK/verify.out" 2>&1) && [ ! -s "$WORK/verify.out" ]; then
    pass "systemd-analyze verify accepts the units the test run installed"
  else
    show verify
    fail "systemd-analyze verify of the installed units"
  fi
else
  log "skip systemd-analyze verify (not installed)"
fi

# Stop: TERM, as systemd's KillSignal; the master drains its workers and exits 0.
kill -TERM "$SERVER_PID"
deadline=$((SECONDS + 30))
while kill -0 "$SERVER_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
if kill -0 "$SERVER_PID" 2>/dev/null; then
  fail "tsicorn stops on TERM within 30 s"
else
  wait "$SERVER_PID"
  code=$?
  SERVER_PID=""
  [ "$code" -eq 0 ] && pass "tsicorn stopped on TERM with exit 0" || fail "tsicorn exited $code on TERM"
fi

echo "ansible.sh: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
