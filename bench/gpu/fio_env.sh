# Sourced by the device scripts that need fio (store_bench.sh,
# align_check.sh): builds it once per warm host from the source in
# .gpu-deps-fio/ (bash bench/gpu/prepare.sh with FIO_SRC set) and puts it on
# PATH. Run from the repository root.
fio_dir=/tmp/kvtier-gpu-fio
if [[ ! -x "$fio_dir/fio" ]]; then
  rm -rf "$fio_dir" && mkdir -p "$fio_dir"
  tar -xzf .gpu-deps-fio/fio-src.tar.gz -C "$fio_dir"
  (cd "$fio_dir" && ./configure >/dev/null && make -s -j"$(nproc)" fio >/dev/null 2>&1)
fi
export PATH=$fio_dir:$PATH
