#!/usr/bin/env bash
# Makes `docker run --privileged` work on these machines. Docker 20.10 (Debian's docker.io)
# asks runc for every capability the kernel knows when a container is privileged; these
# machines run without CAP_SYS_RESOURCE, so runc fails with "unable to apply caps: operation
# not permitted". Docker >= 23 grants only the capabilities dockerd itself has
# (moby/moby#42933); this installs a runc wrapper that does the same, /usr/local/sbin/plancton-runc,
# and makes it the engine's default runtime (/etc/docker/daemon.json; a running dockerd
# reloads it on SIGHUP, a later one reads it at start). Does nothing where privileged
# containers already run. Needs the engine and busybox:latest (engine.sh ensure, images.sh).
set -euo pipefail
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
SHIM=/usr/local/sbin/plancton-runc
CONF=/etc/docker/daemon.json
RUNTIME=plancton-runc

say() { printf 'privileged-runtime.sh: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
privileged_runs() { timeout 60 docker run --rm --privileged busybox:latest true >/dev/null 2>&1; }

if privileged_runs; then
  say "privileged containers run"
  exit 0
fi
if ! command -v jq >/dev/null 2>&1; then
  say "installing jq with apt"
  bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" jq
fi

cat >"$SHIM.tmp" <<'EOF'
#!/usr/bin/env bash
# runc, minus the capabilities missing from this machine's bounding set, in the config.json
# (create/run --bundle) or process.json (exec --process) it is given; installed by
# .ci/setup/privileged-runtime.sh. Prints nothing of its own: containerd reads runc's output.
set -euo pipefail
names=(chown dac_override dac_read_search fowner fsetid kill setgid setuid setpcap linux_immutable
  net_bind_service net_broadcast net_admin net_raw ipc_lock ipc_owner sys_module sys_rawio
  sys_chroot sys_ptrace sys_pacct sys_admin sys_boot sys_nice sys_resource sys_time
  sys_tty_config mknod lease audit_write audit_control setfcap mac_override mac_admin syslog
  wake_alarm block_suspend audit_read perfmon bpf checkpoint_restore)
bounding=$((16#$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)))
missing=()
for i in "${!names[@]}"; do
  if (((bounding >> i & 1) == 0)); then missing+=("\"CAP_${names[i]^^}\""); fi
done
file=
if ((${#missing[@]} > 0)); then
  args=("$@")
  for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
      --bundle | -b) file=${args[i + 1]:-}/config.json ;;
      --bundle=*) file=${args[i]#--bundle=}/config.json ;;
      --process | -p) file=${args[i + 1]:-} ;;
      --process=*) file=${args[i]#--process=} ;;
    esac
  done
fi
if [[ -n $file && -f $file ]]; then
  drop="[$(IFS=,; echo "${missing[*]}")]"
  tmp=$(mktemp "$file.XXXXXX")
  if jq --argjson drop "$drop" '
      def strip: if type == "object" then with_entries(.value |= if type == "array" then map(select(. as $c | $drop | index($c) | not)) else . end) else . end;
      if has("process") then .process.capabilities |= strip else .capabilities |= strip end' "$file" >"$tmp"; then
    chmod --reference="$file" "$tmp"
    mv -f "$tmp" "$file"
  else
    rm -f "$tmp"
  fi
fi
exec @RUNC@ "$@"
EOF
runc=$(command -v runc) || die "runc is not installed"
sed -i "s|@RUNC@|$runc|" "$SHIM.tmp"
chmod 755 "$SHIM.tmp"
mv -f "$SHIM.tmp" "$SHIM"

mkdir -p "${CONF%/*}"
current='{}'
if [[ -s $CONF ]]; then current=$(cat "$CONF"); fi
jq --arg name "$RUNTIME" --arg path "$SHIM" '.runtimes[$name] = { path: $path } | .["default-runtime"] = $name' \
  <<<"$current" >"$CONF.tmp"
mv -f "$CONF.tmp" "$CONF"
say "registered $SHIM as the default runtime in $CONF"

pid=$(tr -dc 0-9 </var/run/docker.pid 2>/dev/null || true)
[[ -n $pid ]] || die "no /var/run/docker.pid: is dockerd running (engine.sh ensure)?"
kill -HUP "$pid"
for _ in $(seq 50); do
  if [[ $(docker info --format '{{.DefaultRuntime}}' 2>/dev/null) == "$RUNTIME" ]]; then break; fi
  sleep 0.2
done
privileged_runs || die "privileged containers still fail with $RUNTIME"
say "privileged containers run (default runtime $RUNTIME)"
