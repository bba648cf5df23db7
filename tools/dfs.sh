#!/usr/bin/env bash
# A MooseFS cluster on one machine, for kvtier's system tests and benchmarks:
# one master (the metadata server, like Lustre's MDS), chunkservers (like
# OSS/OSTs) and several FUSE client mounts of one filesystem, each mount
# standing for one node.
#
#   tools/dfs.sh check
#   tools/dfs.sh up STATE_DIR [--mounts N] [--chunkservers M] [--delay-ms D]
#                             [--relay] [--capacity SIZE] [--goal G] [--cs-space SIZE]
#   tools/dfs.sh down STATE_DIR
#   tools/dfs.sh remount STATE_DIR I      # a fresh mount I, e.g. after SIGKILL
#   tools/dfs.sh delay STATE_DIR D        # the relay's delay is now D ms
#
# `check` exits 0 when this machine can run the cluster, else prints why and
# exits 3 (tests skip with that reason). `up` prints shell lines (also in
# STATE_DIR/env): mount paths, every daemon's PID, the master's address, the
# network namespace. `down` stops what `up` started, by the PIDs it recorded,
# unmounts everything under STATE_DIR and removes the namespace and devices;
# it is idempotent and also cleans up after a failed `up`.
#
# Network: the master refuses 127.0.0.0/8, so the daemons live in a network
# namespace of their own, on addresses of the benchmarking range 198.18.0.0/15
# (RFC 2544): 198.18.K.1 is the master, 198.18.K.11.. the chunkservers, and the
# root namespace reaches them from 198.19.K.1, K being the cluster's slot
# (0-199, one per running cluster). The mounts stay in the root namespace so
# everyone sees them; daemons are started with `nsenter --net` (not
# `ip netns exec`, which would give FUSE mounts a private mount namespace).
# With --delay-ms 0 a veth pair joins the two namespaces; with a delay (or
# --relay), two TUN devices and tools/dfs/delay_relay.c, which holds each
# packet D ms in each direction (the kernel has no netem or fq qdisc to do
# it); `delay` changes D while the cluster runs (packets already held keep
# theirs), so a benchmark can store at one delay and load at another. Traffic
# between daemons (master <-> chunkservers, chunkserver replication) stays
# inside their namespace, undelayed.
#
# Capacity: the mounts show the directory /fs of the filesystem, and with
# --capacity SIZE that directory gets a hard quota on the bytes its files
# take (MooseFS's "size": whole 64 KiB blocks plus a header per chunk), so
# statvfs on a mount reports SIZE as total, used space rises with writes and
# falls as soon as a file is unlinked, and a write past it fails (EDQUOT).
# Why a quota and not a small disk per chunkserver: a chunkserver frees an
# unlinked file's chunks only once no client session still holds the inode,
# and mfsmount keeps reporting every inode it closed for 10 of its 60 s
# reports (ACQFILES_MAX_AGE in mfsclient/mastercomm.c), so a disk's free space
# lags unlinks by about 13 minutes whatever the master's settings (measured
# in bench/RESULTS.md, "MooseFS harness"); the quota counts only files still
# in the tree. Chunks live on STATE_DIR's disk. --cs-space SIZE instead
# gives each chunkserver a tmpfs of SIZE as its disk (a chunkserver counts
# its whole disk's usage, so mfshdd.cfg's space limit on a shared disk
# reports it full), so statvfs reports the chunkservers' own space, with
# that lag: for measuring how the evictor copes with a filesystem that frees
# space late. It takes up to chunkservers x SIZE of memory.
#
# Logs: each process's output is in STATE_DIR/log. The MooseFS daemons also
# call syslog(), which reaches the system log only where a syslog daemon runs.
#
# Packages: installed with apt-get when missing. Where there is no package
# registry (the GPU host), KVTIER_DFS_ROOT may instead name a directory with
# the Debian packages unpacked (bench/gpu/dfs_root.sh): its wrappers/ (for
# mfsmaster, mfschunkserver, mfsmount, mfscli, the mfs*set* tools and
# ip) comes first on PATH, the packages count as present when those
# programs are, and the master's empty metadata comes from there.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# The daemons and ip live in sbin, which a test runner's PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"
dfs_root=${KVTIER_DFS_ROOT:-}
[[ -z $dfs_root ]] || export PATH="$dfs_root/wrappers:$PATH"
packages=(moosefs-master moosefs-chunkserver moosefs-client moosefs-cli)
client_port=9421

die() {
  echo "dfs: $*" >&2
  exit 1
}

usage() {
  sed -n '7,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---- check ----------------------------------------------------------------

packages_missing() {
  local p missing=()
  [[ -z $dfs_root ]] || return 0  # unpacked, not installed: why_not checks the programs
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep 'install ok installed' >/dev/null ||
      missing+=("$p")
  done
  echo "${missing[@]}"
}

# Prints why the cluster cannot run here, or nothing.
why_not() {
  [[ $(id -u) == 0 ]] || { echo "not root (network namespaces and mounts need it)"; return; }
  [[ -c /dev/fuse ]] || { echo "no /dev/fuse"; return; }
  (exec 9<>/dev/fuse) 2>/dev/null || { echo "/dev/fuse cannot be opened"; return; }
  [[ -c /dev/net/tun ]] || { echo "no /dev/net/tun (needed for --delay-ms)"; return; }
  local tool
  for tool in ip nsenter mountpoint cc awk numfmt; do
    command -v "$tool" >/dev/null || { echo "no $tool"; return; }
  done
  local ns="kvdfs-check-$$"
  if ! ip netns add "$ns" 2>/dev/null; then
    echo "cannot create a network namespace"
    return
  fi
  local reason=""
  ip -n "$ns" link set lo up 2>/dev/null || reason="cannot configure a network namespace"
  [[ -n $reason ]] || ip -n "$ns" link add kvdchk0 type veth peer name kvdchk1 2>/dev/null ||
    reason="cannot create a veth pair"
  [[ -n $reason ]] || ip -n "$ns" tuntap add dev kvdchk2 mode tun 2>/dev/null ||
    reason="cannot create a TUN device"
  ip netns del "$ns" 2>/dev/null || true
  [[ -z $reason ]] || { echo "$reason"; return; }
  local p missing
  missing=$(packages_missing)
  if [[ -z $missing ]]; then
    for tool in mfsmaster mfschunkserver mfsmount mfscli mfssettrashtime mfssetgoal mfssetquota; do
      command -v "$tool" >/dev/null || { echo "no $tool though its package is installed"; return; }
    done
  else
    command -v apt-get >/dev/null || { echo "packages missing and no apt-get: $missing"; return; }
    for p in $missing; do
      # grep without -q reads to the end: with pipefail, -q quitting at the
      # match would kill apt-cache with SIGPIPE and fail the pipeline.
      apt-cache policy "$p" 2>/dev/null | grep 'Candidate: [0-9]' >/dev/null ||
        { echo "package $p not installable (no apt candidate)"; return; }
    done
  fi
}

cmd_check() {
  local reason
  reason=$(why_not)
  if [[ -n $reason ]]; then
    echo "dfs: cannot run MooseFS here: $reason"
    exit 3
  fi
  echo "dfs: ok"
}

# ---- install --------------------------------------------------------------

# Installs the packages when missing. A policy-rc.d that exits 101 keeps
# their init scripts from starting system-wide daemons; one that was already
# there is put back as it was.
install_packages() {
  local missing
  missing=$(packages_missing)
  [[ -n $missing ]] || return 0
  echo "dfs: installing $missing" >&2
  local policy=/usr/sbin/policy-rc.d saved=""
  if [[ -e $policy ]]; then
    saved=$(mktemp)
    cp -p "$policy" "$saved"
  fi
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  local rc=0
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing \
    >/dev/null || rc=$?
  if [[ $rc != 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing \
        >/dev/null && rc=0
  fi
  if [[ -n $saved ]]; then
    cp -p "$saved" "$policy"
    rm -f "$saved"
  else
    rm -f "$policy"
  fi
  [[ $rc == 0 ]] || die "apt-get install $missing failed"
}

# ---- up -------------------------------------------------------------------

# Starts a daemon in the background, detached from the caller's terminal and
# process group, and records its PID in STATE/pids/FILE. `setsid` does
# not fork here (the shell's background child is not a group leader) and
# `nsenter --net` without --fork execs, so $! is the daemon itself.
start() {
  local file=$1 log=$2
  shift 2
  setsid "$@" >"$log" 2>&1 </dev/null &
  echo "$!" >"$state/pids/$file"
  # Stopped by PID (down, remount); no job notice when one is killed.
  disown "$!" 2>/dev/null || true  # already gone: its PID file still says which
}

wait_until() {  # wait_until SECONDS COMMAND...: polls COMMAND until it succeeds
  local deadline=$((SECONDS + $1))
  shift
  until "$@" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

# The master lists every chunkserver, each with its space.
chunkservers_registered() {
  local n
  n=$(mfscli -H "$master" -P "$client_port" -SCS 2>/dev/null |
    awk -F'\t' '$2 ~ /^198\.18\./ && $11 > 0' | wc -l)
  ((n >= chunkservers))
}

# statvfs on mount 0 shows the capacity, or some space when none was set.
space_reported() {
  local total
  total=$(stat -f -c '%b %S' "$state/mnt/0" | awk '{ printf "%d", $1 * $2 }')
  if [[ -n $capacity_bytes ]]; then ((total >= capacity_bytes)); else ((total > 0)); fi
}

# delay_us MS: MS (a number of ms, at most 1000) in whole microseconds.
delay_us() {
  [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "a delay must be a number of ms, not '$1'"
  local us
  us=$(awk -v d="$1" 'BEGIN { printf "%d", d * 1000 + 0.5 }')
  ((us <= 1000000)) || die "a delay is at most 1000 ms"
  echo "$us"
}

# ms_of US: the delay the relay holds, in ms, as the env lines report it.
ms_of() {
  awk -v u="$1" 'BEGIN { printf "%g", u / 1000 }'
}

# The running relay's delay becomes D ms per direction (a cluster started with
# a delay or --relay); returns once the relay says so.
cmd_delay() {
  (($# == 1)) || usage
  local us pid lines
  us=$(delay_us "$1")
  pid=$(cat "$state/pids/relay" 2>/dev/null) && [[ -f $state/relay.delay ]] ||
    die "no delay relay in $state (start it with --delay-ms or --relay)"
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == delay_relay ]] || die "the delay relay ($pid) is not running"
  lines=$(grep -c "delay now" "$state/log/relay.log" || true)
  echo "$us" >"$state/relay.delay"
  kill -HUP "$pid"
  wait_until 5 eval '(($(grep -c "delay now" "$state/log/relay.log") > lines))' ||
    die "the relay did not take the new delay"
  echo "DFS_DELAY_MS=$(ms_of "$us")"
}

cmd_up() {
  local mounts=3 delay_ms=0 capacity="" goal=1 cs_space="" relay=""
  chunkservers=2
  while (($#)); do
    case $1 in
      --mounts) mounts=$2; shift 2 ;;
      --chunkservers) chunkservers=$2; shift 2 ;;
      --delay-ms) delay_ms=$2; shift 2 ;;
      --relay) relay=1; shift ;;
      --capacity) capacity=$2; shift 2 ;;
      --goal) goal=$2; shift 2 ;;
      --cs-space) cs_space=$2; shift 2 ;;
      *) usage ;;
    esac
  done
  [[ $mounts =~ ^[1-9][0-9]?$ ]] || die "--mounts must be 1-99"
  [[ $chunkservers =~ ^[1-9]$ ]] || die "--chunkservers must be 1-9"
  [[ $goal =~ ^[1-9]$ ]] && ((goal <= chunkservers)) || die "--goal must be 1..chunkservers"
  local delay_us
  delay_us=$(delay_us "$delay_ms")
  delay_ms=$(ms_of "$delay_us")
  ((delay_us > 0)) && relay=1
  capacity_bytes=""
  if [[ -n $capacity ]]; then
    capacity_bytes=$(numfmt --from=iec "${capacity%B}" 2>/dev/null) || die "bad --capacity $capacity"
    ((capacity_bytes >= 64 << 20)) || die "--capacity must be at least 64M"
  fi
  local cs_space_bytes=""
  if [[ -n $cs_space ]]; then
    cs_space_bytes=$(numfmt --from=iec "${cs_space%B}" 2>/dev/null) || die "bad --cs-space $cs_space"
    ((cs_space_bytes >= 256 << 20)) || die "--cs-space must be at least 256M"
  fi
  local reason
  reason=$(why_not)
  [[ -z $reason ]] || { echo "dfs: cannot run MooseFS here: $reason" >&2; exit 3; }

  mkdir -p "$state"
  [[ ! -e $state/netns ]] || die "$state is in use; run: $0 down $state"
  install_packages
  local t0=$SECONDS
  # Every `up` is a new filesystem: a chunkserver would refuse a new master
  # whose metadata id differs from the one its data dir remembers.
  [[ -z $(mounts_under) ]] || die "something is still mounted under $state; run: $0 down $state"
  rm -rf "$state/pids" "$state/etc" "$state/env" "$state/master" "$state/cs" "$state/mnt" \
    "$state/log"
  mkdir -p "$state/pids" "$state/etc" "$state/log" "$state/bin"
  if [[ -n $capacity_bytes ]]; then
    # The quota bounds what the tree holds, not what the chunkservers keep
    # for unlinked files still held by a session (see the top).
    local free
    free=$(df -B1 --output=avail "$state" | tail -n 1)
    ((free > 2 * goal * capacity_bytes)) ||
      die "--capacity $capacity needs twice goal x capacity free under $state (has $free bytes)"
  fi
  # Any failure from here on (die, a failed command) undoes what was done.
  up_ok=""
  trap '[[ -n $up_ok ]] || { echo "dfs: up failed; logs in $state/log" >&2; cmd_down >&2; }' EXIT

  # A slot is a namespace name: `ip netns add` fails if it exists, so two
  # clusters starting at once never get the same addresses.
  local k ns=""
  for ((k = 0; k < 200; k++)); do
    if ip netns add "kvdfs$k" 2>/dev/null; then
      ns="kvdfs$k"
      break
    fi
  done
  [[ -n $ns ]] || die "no free slot (200 kvdfs* network namespaces exist)"
  echo "$ns $k" >"$state/netns"
  master="198.18.$k.1"
  local client_ip="198.19.$k.1" root_dev="kvd${k}r" ns_dev="kvd${k}n"
  # The slot is ours now: a device of its name is a crashed cluster's leftover.
  ip link del "$root_dev" 2>/dev/null || true
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$master/32" dev lo
  local i
  for ((i = 0; i < chunkservers; i++)); do
    ip -n "$ns" addr add "198.18.$k.$((11 + i))/32" dev lo
  done
  if [[ -z $relay ]]; then
    ip link add "$root_dev" type veth peer name "$ns_dev" netns "$ns"
  else
    cc -O2 -Wall -o "$state/bin/delay_relay" "$here/dfs/delay_relay.c"
    # MTU 1500 as on veth; the relay takes segmentation offload (64 KiB
    # reads) so its per-packet cost stays off the critical path.
    ip tuntap add dev "$root_dev" mode tun vnet_hdr
    ip -n "$ns" tuntap add dev "$ns_dev" mode tun vnet_hdr
  fi
  ip addr add "$client_ip/32" dev "$root_dev"
  ip link set "$root_dev" up
  ip route add "198.18.$k.0/24" dev "$root_dev" src "$client_ip"
  ip -n "$ns" link set "$ns_dev" up
  ip -n "$ns" route add "$client_ip/32" dev "$ns_dev"
  if [[ -n $relay ]]; then
    echo "$delay_us" >"$state/relay.delay"
    start relay "$state/log/relay.log" \
      "$state/bin/delay_relay" "$delay_us" "$root_dev" "/run/netns/$ns" "$ns_dev" "$state/relay.delay"
    wait_until 5 grep -q ready "$state/log/relay.log" || die "delay relay did not start"
  fi

  # Master. Deleted files' chunks should go soon: trash time 0 (set below),
  # a chunk loop of 60 s (the least the master accepts) instead of 300 s, and
  # high per-chunkserver delete limits (defaults 10 and 25 per loop step).
  mkdir -p "$state/master"
  cp "$dfs_root/var/lib/mfs/metadata.mfs.empty" "$state/master/metadata.mfs"
  # admin: the set-up mount sets a quota.
  echo "* / rw,alldirs,admin,maproot=0" >"$state/etc/mfsexports.cfg"
  : >"$state/etc/mfstopology.cfg"
  cat >"$state/etc/mfsmaster.cfg" <<EOF
WORKING_USER = root
WORKING_GROUP = root
SYSLOG_IDENT = kvdfs${k}-master
NICE_LEVEL = 0
DATA_PATH = $state/master
EXPORTS_FILENAME = $state/etc/mfsexports.cfg
TOPOLOGY_FILENAME = $state/etc/mfstopology.cfg
MATOML_LISTEN_HOST = $master
MATOCS_LISTEN_HOST = $master
MATOCL_LISTEN_HOST = $master
CHUNKS_LOOP_MIN_TIME = 60
CHUNKS_SOFT_DEL_LIMIT = 10000
CHUNKS_HARD_DEL_LIMIT = 20000
EOF
  start master "$state/log/master.log" \
    nsenter --net="/run/netns/$ns" mfsmaster -f -c "$state/etc/mfsmaster.cfg"

  # Chunkservers. Sparsify off: a chunk of zeros must take its space, as
  # on a parallel filesystem's disks.
  for ((i = 0; i < chunkservers; i++)); do
    local cs="$state/cs/$i" ip="198.18.$k.$((11 + i))"
    mkdir -p "$cs/data" "$cs/hdd"
    if [[ -n $cs_space_bytes ]]; then
      mount -t tmpfs -o "size=$cs_space_bytes,mode=0700" "kvdfs$k-cs$i" "$cs/hdd"
    fi
    echo "$cs/hdd" >"$state/etc/mfshdd$i.cfg"
    cat >"$state/etc/mfschunkserver$i.cfg" <<EOF
WORKING_USER = root
WORKING_GROUP = root
SYSLOG_IDENT = kvdfs${k}-cs$i
NICE_LEVEL = 0
DATA_PATH = $cs/data
HDD_CONF_FILENAME = $state/etc/mfshdd$i.cfg
HDD_LEAVE_SPACE_DEFAULT = 0
HDD_SPARSIFY_ON_WRITE = 0
BIND_HOST = $ip
MASTER_HOST = $master
CSSERV_LISTEN_HOST = $ip
EOF
  done
  wait_until 30 bash -c "exec 3<>/dev/tcp/$master/$client_port" ||
    die "master did not start"
  for ((i = 0; i < chunkservers; i++)); do
    start "chunkserver$i" "$state/log/chunkserver$i.log" \
      nsenter --net="/run/netns/$ns" mfschunkserver -f -c "$state/etc/mfschunkserver$i.cfg"
  done

  wait_until 30 chunkservers_registered || die "chunkservers did not register"

  # One mount of the whole filesystem to set it up: trash time 0 (an unlink
  # frees the file at once instead of moving it to the trash for a day), the
  # goal (copies per chunk), and the directory /fs the clients mount, with
  # the quota when a capacity is asked for.
  local admin="$state/admin"
  mkdir -p "$admin"
  start admin "$state/log/admin.log" mfsmount -f "$admin" -H "$master" -P "$client_port"
  wait_until 30 mountpoint -q "$admin" || die "the set-up mount did not come up"
  mfssettrashtime -r 0 "$admin" >/dev/null
  mfssetgoal -r "$goal" "$admin" >/dev/null
  mkdir "$admin/fs"
  chmod 1777 "$admin/fs"
  if [[ -n $capacity_bytes ]]; then
    mfssetquota -S "$capacity_bytes" "$admin/fs" >/dev/null
  fi
  umount "$admin"
  # Unmounted, its process only lingers (4 s) to close its session.
  wait_gone 5 $(signal_recorded KILL "$state/pids/admin") || die "the set-up mount did not exit"
  rm -f "$state/pids/admin"

  for ((i = 0; i < mounts; i++)); do start_mount "$i"; done
  for ((i = 0; i < mounts; i++)); do
    wait_until 30 mountpoint -q "$state/mnt/$i" || die "mount $i did not come up"
  done
  # The master counts a chunkserver's space in statvfs a little after
  # listing it; until then a mount reports 0 bytes.
  wait_until 30 space_reported || die "the mounts report no space"
  write_env "$ns" "$k" "$mounts" "$delay_ms" "$goal"
  up_ok=1
  cat "$state/env"
  echo "dfs: up in $((SECONDS - t0)) s" >&2
}

# Client mount $1, in the root namespace. mfserroronnospace: a write with
# no space left fails at once instead of retrying for minutes.
start_mount() {
  mkdir -p "$state/mnt/$1"
  start "mount$1" "$state/log/mount$1.log" \
    mfsmount -f "$state/mnt/$1" -H "$master" -P "$client_port" -S /fs -o mfserroronnospace
}

# Replaces mount $1 by a fresh one (after a test killed or stopped it):
# the old process goes, its mount point is detached, a new mfsmount comes.
cmd_remount() {
  local i=${1:-} pids
  [[ -e $state/env && -n $i && -e $state/pids/mount$i ]] || die "no mount ${i:-?} under $state"
  master=$(sed -n 's/^DFS_MASTER_HOST=//p' "$state/env")
  signal_recorded CONT "$state/pids/mount$i" >/dev/null
  pids=$(signal_recorded KILL "$state/pids/mount$i")
  # shellcheck disable=SC2086
  wait_gone 5 $pids || die "mount $i's old process did not exit"
  if mountpoint -q "$state/mnt/$i" 2>/dev/null || grep -q " $state/mnt/$i " /proc/self/mounts; then
    umount -l "$state/mnt/$i"
  fi
  start_mount "$i"
  wait_until 30 mountpoint -q "$state/mnt/$i" || die "mount $i did not come back"
  local all=() f
  for f in $(find "$state/pids" -name 'mount*' | sort -V); do all+=("$(cat "$f")"); done
  sed -i "s/^DFS_MOUNT_PIDS=.*/DFS_MOUNT_PIDS='${all[*]}'/" "$state/env"
  cat "$state/env"
}

write_env() {
  local ns=$1 k=$2 mounts=$3 delay_ms=$4 goal=$5 i
  local mnt=() cs=() mp=()
  for ((i = 0; i < mounts; i++)); do
    mnt+=("$state/mnt/$i")
    mp+=("$(cat "$state/pids/mount$i")")
  done
  for ((i = 0; i < chunkservers; i++)); do cs+=("$(cat "$state/pids/chunkserver$i")"); done
  {
    echo "DFS_STATE=$state"
    echo "DFS_NETNS=$ns"
    echo "DFS_MASTER_HOST=198.18.$k.1"
    echo "DFS_MASTER_PORT=$client_port"
    echo "DFS_MOUNTS='${mnt[*]}'"
    echo "DFS_MASTER_PID=$(cat "$state/pids/master")"
    echo "DFS_CHUNKSERVER_PIDS='${cs[*]}'"
    echo "DFS_MOUNT_PIDS='${mp[*]}'"
    echo "DFS_RELAY_PID=$(cat "$state/pids/relay" 2>/dev/null || true)"
    echo "DFS_DELAY_MS=$delay_ms"
    echo "DFS_CAPACITY_BYTES=$capacity_bytes"
    echo "DFS_GOAL=$goal"
  } >"$state/env"
}

# ---- down -----------------------------------------------------------------

# PIDs of live processes in process group $1 whose command line names $2.
# Each daemon was started as a group leader (setsid), so its group holds it
# and its helpers (mfsmaster forks a data writer); matching the name means a
# reused PID is never signalled.
group_members() {
  ps -eo pid=,pgid=,stat=,args= |
    awk -v g="$1" -v e="$2" '$2 == g && $3 !~ /^Z/ && index($0, e) { print $1 }'
}

# Signals the recorded processes (and their groups' helpers) with $1: those
# of the PID files given, else all; prints the PIDs that were still there.
signal_recorded() {
  local sig=$1 f pid expect p
  shift
  (($#)) || set -- "$state"/pids/*
  for f in "$@"; do
    [[ -e $f ]] || continue
    pid=$(cat "$f")
    [[ $pid =~ ^[0-9]+$ ]] || continue
    case $(basename "$f") in
      master) expect=mfsmaster ;;
      chunkserver*) expect=mfschunkserver ;;
      mount* | admin) expect=mfsmount ;;
      relay) expect=delay_relay ;;
      *) continue ;;
    esac
    for p in $(group_members "$pid" "$expect"); do
      kill "-$sig" "$p" 2>/dev/null && echo "$p"
    done
  done
}

# Waits up to $1 seconds for the PIDs in $2... to be gone (or zombies).
wait_gone() {
  local deadline=$((SECONDS + $1)) p left
  shift
  while :; do
    left=""
    for p in "$@"; do
      [[ $(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null) =~ ^[^Z]$ ]] && left+=" $p"
    done
    [[ -n $left ]] || return 0
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

# Mount points under STATE, deepest first.
mounts_under() {
  awk -v p="$state/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r
}

cmd_down() {
  [[ -d $state ]] || return 0
  local m pids
  # A test may have stopped a daemon (SIGSTOP); a stopped mfsmount could
  # hold up its unmount.
  signal_recorded CONT >/dev/null
  # Mounts first, then the processes. The MooseFS ones get KILL: a clean
  # exit only saves state the next `up` discards, and costs seconds
  # (mfsmount takes 4 s to leave after its unmount, the master 2.4 s to save
  # its metadata). The relay gets TERM, to log its counters.
  for m in $(mounts_under); do
    timeout 5 umount "$m" 2>/dev/null || true
  done
  pids="$(signal_recorded KILL "$state"/pids/mount* "$state"/pids/admin \
    "$state"/pids/chunkserver* "$state"/pids/master) $(signal_recorded TERM "$state"/pids/relay)"
  # shellcheck disable=SC2086
  if ! wait_gone 5 $pids; then
    pids=$(signal_recorded KILL)
    wait_gone 5 $pids || echo "dfs: still running: $pids" >&2
  fi
  rm -f "$state"/pids/*
  for m in $(mounts_under); do
    timeout 5 umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  if [[ -e $state/netns ]]; then
    local ns k
    read -r ns k <"$state/netns"
    ip link del "kvd${k}r" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -f "$state/netns"
  fi
  rm -f "$state/env" "$state/relay.delay"
  if [[ -n $(mounts_under) ]]; then
    echo "dfs: still mounted under $state:" $(mounts_under) >&2
    return 1
  fi
}

# ---- main -----------------------------------------------------------------

(($#)) || usage
cmd=$1
shift
case $cmd in
  check) cmd_check ;;
  up | down | remount | delay)
    (($#)) || usage
    [[ $1 != *[[:space:]]* ]] || die "STATE_DIR must not contain spaces"
    state=$(realpath -m "$1")
    shift
    [[ $state != / ]] || die "STATE_DIR must not be /"
    case $cmd in
      up) cmd_up "$@" ;;
      down) cmd_down ;;
      remount) cmd_remount "$@" ;;
      delay) cmd_delay "$@" ;;
    esac
    ;;
  *) usage ;;
esac
