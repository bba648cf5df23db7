# Sourced by bench/gpu/dfs_bench.sh, from the repository root: unpacks the
# Debian 12 packages carried in .gpu-deps-dfs/debs (bench/gpu/dfs_prepare.sh)
# into KVTIER_DFS_ROOT (default /tmp/kvtier-dfs-root) with `dpkg-deb -x`,
# nothing installed, and exports KVTIER_DFS_ROOT, which tools/dfs.sh then
# uses instead of installed packages. KVTIER_DFS_ROOT/wrappers holds one wrapper
# per program tools/dfs.sh runs: it execs the unpacked program (same PID,
# its own name in the process list) with the carried libraries first on
# LD_LIBRARY_PATH, so no other program on the host loads them. Writes what
# each program links on this host to $OUT/dfs-ldd.txt.
KVTIER_DFS_ROOT=${KVTIER_DFS_ROOT:-/tmp/kvtier-dfs-root}
export KVTIER_DFS_ROOT
rm -rf "$KVTIER_DFS_ROOT"
mkdir -p "$KVTIER_DFS_ROOT/wrappers"
for deb in .gpu-deps-dfs/debs/*.deb; do dpkg-deb -x "$deb" "$KVTIER_DFS_ROOT"; done
dfs_libs=$KVTIER_DFS_ROOT/lib/x86_64-linux-gnu:$KVTIER_DFS_ROOT/usr/lib/x86_64-linux-gnu
for dfs_prog in usr/sbin/mfsmaster usr/sbin/mfschunkserver usr/bin/mfsmount \
  usr/bin/mfssettrashtime usr/bin/mfssetgoal usr/bin/mfssetquota bin/ip bin/fusermount3; do
  printf '#!/bin/sh\nexport LD_LIBRARY_PATH=%s\nexec %s "$@"\n' \
    "$dfs_libs" "$KVTIER_DFS_ROOT/$dfs_prog" >"$KVTIER_DFS_ROOT/wrappers/${dfs_prog##*/}"
done
# mfscli is a Python script whose first line names /usr/bin/python3.
printf '#!/bin/sh\nexec python3 %s "$@"\n' "$KVTIER_DFS_ROOT/usr/bin/mfscli" \
  >"$KVTIER_DFS_ROOT/wrappers/mfscli"
chmod 755 "$KVTIER_DFS_ROOT"/wrappers/*
{
  echo "== what the carried programs link on $(. /etc/os-release && echo "$PRETTY_NAME"), $(uname -r)"
  for dfs_prog in usr/sbin/mfsmaster usr/sbin/mfschunkserver usr/bin/mfsmount usr/bin/mfstools \
    bin/ip; do
    echo "-- $dfs_prog"
    LD_LIBRARY_PATH=$dfs_libs ldd "$KVTIER_DFS_ROOT/$dfs_prog"
  done
  echo "-- the same without the carried libraries (what the host lacks)"
  for dfs_prog in usr/sbin/mfsmaster usr/bin/mfsmount bin/ip; do
    ldd "$KVTIER_DFS_ROOT/$dfs_prog" | grep 'not found' | sed "s|^|$dfs_prog: |" || true
  done
} >"${OUT:-/tmp}/dfs-ldd.txt" 2>&1
unset dfs_libs dfs_prog deb
