# Sourced by the MooseFS benchmarks (bench/dfs_*.sh): one cluster from
# tools/dfs.sh at a time, brought down on every exit. Run from the
# repository root.
#
#   dfs_start NAME OUT     refuses (exit 3, saying why) where tools/dfs.sh
#                          cannot run; makes $work (a temporary folder, gone
#                          at exit) and $cluster (its cluster state); copies
#                          all output to OUT, with $work printed as WORK.
#                          DFS_ON_EXIT, when set, is run first at exit (a
#                          script's own clean-up).
#   dfs_up DELAY MOUNTS [UP-OPTIONS...]
#                          brings the cluster up (DELAY ms per direction;
#                          more `tools/dfs.sh up` options, e.g. --relay) and
#                          sets tools/dfs.sh's DFS_* variables, MNT (the
#                          mount paths) and MNT_PIDS (their mfsmount PIDs)
#   dfs_down               brings it down

dfs_start() {
  bash tools/dfs.sh check >/dev/null || {
    bash tools/dfs.sh check
    exit 3
  }
  work=$(mktemp -d "${TMPDIR:-/tmp}/kvtier-$1.XXXXXX")
  cluster=$work/cluster
  trap dfs_exit EXIT
  trap 'exit 130' INT TERM
  mkdir -p "$(dirname "$2")"
  # The temporary folder is named WORK in what is printed.
  exec > >(sed -u "s|$work|WORK|g" | tee "$2") 2>&1
}

dfs_exit() {
  [[ -z ${DFS_ON_EXIT:-} ]] || eval "$DFS_ON_EXIT" || true
  # fusectl, when dfs_ceiling.sh mounted it and was stopped half way.
  [[ -z ${CTL_MOUNTED:-} ]] || umount /sys/fs/fuse/connections 2>/dev/null || true
  bash tools/dfs.sh down "$cluster" >/dev/null 2>&1 || true
  rm -rf "$work"
}

dfs_up() {
  bash tools/dfs.sh up "$cluster" --mounts "$2" --delay-ms "$1" "${@:3}" >"$work/env"
  # shellcheck disable=SC1091
  source "$work/env"
  read -ra MNT <<<"$DFS_MOUNTS"
  read -ra MNT_PIDS <<<"$DFS_MOUNT_PIDS"
}

dfs_down() { bash tools/dfs.sh down "$cluster" >/dev/null; }
