# Sourced by the device scripts: what building on the GPU host takes, where
# there is no package registry and no liburing or fio installed. Run from
# the repository root.

# uring_pkg_config DIR PREFIX: writes DIR/pkg-config, a stand-in that
# answers CMake's pkg_check_modules for liburing only, from the headers
# (PREFIX/include) and static library (PREFIX/lib) that travel with the
# call. Pass -DPKG_CONFIG_EXECUTABLE=DIR/pkg-config to cmake.
uring_pkg_config() {
  mkdir -p "$1"
  cat >"$1/pkg-config" <<EOF2
#!/bin/sh
p=$2
case " \$* " in *" --version "*) echo 1.8.1; exit 0 ;; esac
case " \$* " in *" liburing "*) ;; *) exit 1 ;; esac
for a in "\$@"; do
  case \$a in
    --modversion) echo 2.3 ;;
    --variable=prefix) echo \$p ;;
    --variable=includedir) echo \$p/include ;;
    --variable=libdir) echo \$p/lib ;;
    --libs) echo "-L\$p/lib -luring" ;;
    --libs-only-L) echo "-L\$p/lib" ;;
    --libs-only-l) echo "-luring" ;;
    --cflags | --cflags-only-I) echo "-I\$p/include" ;;
  esac
done
exit 0
EOF2
  chmod +x "$1/pkg-config"
}

# fio_from_source TARBALL DIR [LOG]: builds fio from the source tarball
# (bench/gpu/prepare.sh or dfs_prepare.sh with FIO_SRC set) into DIR, once
# per warm host, and puts it on PATH. The build's output goes to LOG
# (default: nowhere).
fio_from_source() {
  local log=${3:-/dev/null}
  if [[ ! -x $2/fio ]]; then
    rm -rf "$2" && mkdir -p "$2"
    tar -xzf "$1" -C "$2"
    (cd "$2" && ./configure >"$log" 2>&1 && make -s -j"$(nproc)" fio >>"$log" 2>&1)
  fi
  export PATH=$2:$PATH
}
