# shellcheck shell=bash
# Sourced by bench/dfs_bench.sh and bench/gpu/dfs_bench.sh (part `ceiling`):
# what one MooseFS mount reads at most, the ceiling that kvtier's and vLLM's
# tier loads are measured against. Needs MNT (the cluster's mounts, at least
# 3) and MNT_PIDS (their mfsmount PIDs), fio on PATH, root (fusectl).
#
# For each job count J in CEIL_JOBS ("16 32 64"): fio writes CEIL_FILES
# (192) files of CEIL_SIZE (10M, the DESIGN's chunk) through mount 0, spread
# over J jobs, then reads them cold with J jobs, one transfer per file (as a
# chunk load): O_DIRECT through mount 1, buffered through mount 2. Each
# mount reads each file once, so no read finds the writer's page cache or
# its own, while the chunkservers' disks stay in their page cache, as on a
# server with RAM to spare and as in the tier benchmark. (Dropping the page
# cache instead, `echo 3 > /proc/sys/vm/drop_caches`, also drops the
# chunkservers': the reads then measure the chunkservers' disk, 1.5-1.7
# GB/s on the GPU host's virtio disk at 0 ms, not the mount.) While each
# read runs, the mount's FUSE
# connection is sampled every 10 ms: requests sent to the daemon and not
# yet answered (`waiting`; the kernel holds asynchronous reads, O_DIRECT
# pieces and read-ahead alike, to `max_background` at once).
#
# CEIL_SIZE may name several sizes ("10M 10244K": a chunk's payload, and the
# payload with kvtier's 4 KiB header), a size more than once to alternate
# them: each gets its own files and reads.
# CEIL_BUFFERED=0 skips the buffered reads.
#
# With CEIL_MAXBG (default 64; empty: skipped) the largest J's O_DIRECT read
# runs once more on a fresh set of files with mount 1's max_background raised
# to it (then put back): whether the kernel's limit or the daemon's worker
# threads bound the mount.
#
#   dfs_ceiling        # prints one line per read

# fusectl_up: mounts fusectl (/sys/fs/fuse/connections) unless it is, and
# then sets CTL_MOUNTED=1, so that fusectl_down, and the exit traps of
# dfs_lib.sh and gpu/dfs_bench.sh for a run stopped half way, unmount only
# what was mounted here.
fusectl_up() {
  mountpoint -q /sys/fs/fuse/connections && return 0
  mount -t fusectl none /sys/fs/fuse/connections && CTL_MOUNTED=1
}
fusectl_down() {
  [[ -z ${CTL_MOUNTED:-} ]] || { umount /sys/fs/fuse/connections && CTL_MOUNTED=; }
}

# The FUSE connection directory of mount $1.
dfs_fuse_conn() {
  local dev
  dev=$(mountpoint -d "$1")
  echo "/sys/fs/fuse/connections/${dev#*:}"
}

# fio_gbps DIR RW JOBS FILES_PER_JOB DIRECT SIZE: aggregate GB/s of one fio
# run over files of SIZE, one transfer each.
dfs_fio_gbps() {
  fio --name=ceil --directory="$1" --rw="$2" --numjobs="$3" --nrfiles="$4" \
    --filesize="$6" --size=$(($4 * $(numfmt --from=iec "$6"))) \
    --bs="$6" --ioengine=psync --direct="$5" --file_service_type=sequential \
    --openfiles=1 --create_on_open=1 --fallocate=none --invalidate=0 --thread \
    --group_reporting --output-format=json 2>/dev/null |
    python3 -c "import json, sys
j = json.load(sys.stdin)['jobs'][0][sys.argv[1]]
print('%.2f' % (j['io_bytes'] / (j['runtime'] / 1e3) / 1e9 if j['runtime'] else 0))" "$2"
}

# dfs_ceiling_read LABEL MOUNT_INDEX DIR_NAME J PER_JOB DIRECT SIZE
dfs_ceiling_read() {
  local conn samples sampler gbps
  conn=$(dfs_fuse_conn "${MNT[$2]}")
  samples=$(mktemp)
  # Ends by itself once the connection is gone (a run stopped half way).
  (while cat "$conn/waiting"; do sleep 0.01; done) >"$samples" 2>/dev/null &
  sampler=$!
  gbps=$(dfs_fio_gbps "${MNT[$2]}/$3" read "$4" "$5" "$6" "$7")
  kill "$sampler"
  wait "$sampler" 2>/dev/null || true
  echo "$1 jobs=$4 read ${gbps} GB/s through mount $2; FUSE requests in flight" \
    "$(awk '$1 > 0 { n++; s += $1; if ($1 > m) m = $1 }
      END { printf "mean %.1f max %d (%d busy samples)", n ? s / n : 0, m, n }' "$samples");" \
    "max_background $(cat "$conn/max_background"); load $(cut -d' ' -f1 /proc/loadavg)"
  rm -f "$samples"
}

dfs_ceiling() {
  CEIL_JOBS=${CEIL_JOBS:-"16 32 64"}
  CEIL_FILES=${CEIL_FILES:-192}
  CEIL_SIZE=${CEIL_SIZE:-10M}
  CEIL_MAXBG=${CEIL_MAXBG-64}
  local j per w t0 d n=0 last="" size="" was_up=${CTL_MOUNTED:-}
  fusectl_up
  echo "$CEIL_FILES files of $CEIL_SIZE per job count; fio psync, one transfer per file;" \
    "mfsmount (mount 1) threads before: $(ls "/proc/${MNT_PIDS[1]}/task" 2>/dev/null | wc -l)"
  for size in $CEIL_SIZE; do
    for j in $CEIL_JOBS; do
      per=$(((CEIL_FILES + j - 1) / j))
      # Fresh files per run, so a size listed twice is read cold again.
      d=ceil$j-$size-$((n++))
      mkdir -p "${MNT[0]}/$d"
      t0=$SECONDS
      w=$(dfs_fio_gbps "${MNT[0]}/$d" write "$j" "$per" 0 "$size")
      echo "write jobs=$j size=$size ${w} GB/s buffered through mount 0 ($((SECONDS - t0)) s)"
      dfs_ceiling_read "direct   size=$size" 1 "$d" "$j" "$per" 1 "$size"
      [[ ${CEIL_BUFFERED:-1} == 0 ]] ||
        dfs_ceiling_read "buffered size=$size" 2 "$d" "$j" "$per" 0 "$size"
      last=$j
    done
  done
  if [[ -n $CEIL_MAXBG && -n $last ]]; then  # the largest J, the last size
    local conn old
    conn=$(dfs_fuse_conn "${MNT[1]}")
    per=$(((CEIL_FILES + last - 1) / last))
    mkdir -p "${MNT[0]}/ceilbg"
    dfs_fio_gbps "${MNT[0]}/ceilbg" write "$last" "$per" 0 "$size" >/dev/null
    old=$(cat "$conn/max_background")
    echo "$CEIL_MAXBG" >"$conn/max_background"
    dfs_ceiling_read "direct, max_background $CEIL_MAXBG" 1 ceilbg "$last" "$per" 1 "$size"
    echo "$old" >"$conn/max_background"
  fi
  echo "mfsmount (mount 1) threads after: $(ls "/proc/${MNT_PIDS[1]}/task" 2>/dev/null | wc -l)"
  rm -rf "${MNT[0]}"/ceil*
  # Leave nothing mounted that was not there before.
  [[ -n $was_up ]] || fusectl_down
}
