#!/usr/bin/env bash
# One device call (docs/SECURITY.md, bench/RESULTS.md "Authenticated and
# encrypted chunks"): the primitives alone (--micro), then loads of plain,
# MAC'd and encrypted chunks side by side
# (bench/crypto_bench.cc) on the GPU host's /dev/shm and local disk, then the
# seed's 50,000-token load with encryption next to the prefill it saves
# (seed_repro.py --seal none encrypt). The host has no package registry:
# OpenSSL's headers (and a libcrypto, used only if the host has none) travel
# in .gpu-deps/, made by bench/gpu/prepare.sh. Results go to $OUT.
#
#   OUT=dir bash bench/gpu/crypto_bench.sh [--no-seed]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/kvtier-gpu-out}
mkdir -p "$OUT"
deps="$PWD/.gpu-deps"
lib=$(ldconfig -p | grep -o '/[^ ]*libcrypto\.so\.3$' | head -1 || true)
if [[ -z $lib ]]; then
  lib="$deps/lib/libcrypto.so.3"
  export LD_LIBRARY_PATH="$deps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
ossl=(-DOPENSSL_INCLUDE_DIR="$deps/include" -DOPENSSL_CRYPTO_LIBRARY="$lib")
cmake -S . -B build/gpu-crypto -DCMAKE_BUILD_TYPE=Release -DKVTIER_BUILD_TESTS=OFF \
  -DKVTIER_THIRD_PARTY_INCLUDE="$PWD/.gpu-deps/include" "${ossl[@]}" >/dev/null
cmake --build build/gpu-crypto -j"$(nproc)" --target kvtier-crypto-bench >/dev/null
{
  echo "cores: $(nproc); libcrypto: $lib"
  lscpu | grep -E 'Model name|Flags' | grep -oE 'Model name.*|vaes|vpclmulqdq|sha_ni| aes ' | sort -u
  df -hT /dev/shm /var/tmp | tail -n +2
} | tee "$OUT/host-crypto.txt"
bench=build/gpu-crypto/kvtier-crypto-bench
# The primitives alone, one thread in cache (XXH3, the ChaCha20-Poly1305
# MAC, GMAC, AES-GCM decryption, memcpy): the paired figures for the cells.
$bench --micro --seconds 2 | tee -a "$OUT/crypto.jsonl"
for t in 4 16; do
  $bench --dir /dev/shm/kvtier-cb --size 32M --count 64 --threads "$t" --rounds 5 \
    | tee -a "$OUT/crypto.jsonl"
done
$bench --dir /var/tmp/kvtier-cb --size 32M --count 32 --threads 16 --rounds 3 --direct on \
  | tee -a "$OUT/crypto.jsonl"
[[ ${1:-} == --no-seed ]] && exit 0
python3 -m pip install -q --no-index --find-links .gpu-deps/wheels nanobind scikit-build-core
SKBUILD_CMAKE_DEFINE="KVTIER_THIRD_PARTY_INCLUDE=$PWD/.gpu-deps/include;OPENSSL_INCLUDE_DIR=$deps/include;OPENSSL_CRYPTO_LIBRARY=$lib" \
  python3 -m pip install -q --no-build-isolation --no-deps --no-index .
python3 bench/gpu/seed_repro.py --roots /dev/shm/kvtier-seed --seal none encrypt \
  --out "$OUT/seed_repro_encrypt.json" | tail -n 3
