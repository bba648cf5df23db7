"""kvtier.sglang against the real, pinned SGLang on the CPU: loaded by SGLang's
own storage backend factory ("dynamic"), pages moved in and out of SGLang's
own host memory pool, checked byte for byte."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import uuid

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))
import sglang_harness as h  # noqa: E402
from sglang.srt.mem_cache.hicache_storage import (  # noqa: E402
    PoolHitPolicy,
    PoolName,
    PoolTransfer,
)

import kvtier.sglang as ks  # noqa: E402

LAYOUTS = ["page_first", "page_first_direct", "page_head", "layer_first"]


def keys(n: int, tag: str = "") -> list[str]:
    # SGLang's page keys are sha256 hex digests chained over the prefix.
    salt = uuid.uuid4().hex + tag
    return [f"{salt}{i:032x}"[-64:] for i in range(n)]


def test_options_documented_and_unknown_named(tmp_path):
    pool = h.make_pool()
    with pytest.raises(ValueError, match="read_thread"):
        h.attach("dynamic", h.kvtier_extra(tmp_path, read_thread=4), pool)
    with pytest.raises(ValueError, match="root_dir"):
        extra = h.kvtier_extra(tmp_path)
        del extra["root_dir"]
        h.attach("dynamic", extra, pool)
    assert ks.parse_options({"root_dir": "/x"})["verify"] is True


@pytest.mark.parametrize("layout", LAYOUTS)
def test_round_trip_through_host_pool(tmp_path, layout):
    pool = h.make_pool(layout)
    b = h.attach("dynamic", h.kvtier_extra(tmp_path), pool)
    try:
        assert isinstance(b, ks.KvtierHiCacheStorage)
        ns = b.store.namespace_dir
        assert os.path.dirname(ns) == str(tmp_path)
        fp = json.load(open(os.path.join(ns, "fingerprint.json")))
        assert "sglang" in json.dumps(fp) and layout in json.dumps(fp)
        ks_ = keys(6)
        src = pool.alloc(6 * pool.page_size)
        h.fill_random(pool, src, seed=len(layout))
        assert b.batch_exists(ks_) == 0
        assert b.batch_set_v1(ks_, src) == [True] * 6
        assert b.batch_exists(ks_) == 6
        # One chunk file per page, whatever the segments (K and V, or per
        # layer), and a fingerprint saying so.
        assert fp["chunk_per"] == "page" and fp["segments_per_page"] >= 2
        chunks = glob.glob(os.path.join(ns, "*", "*", "*.kv"))
        assert len(chunks) == 6
        assert {os.path.getsize(c) for c in chunks} == {os.path.getsize(chunks[0])}
        dst = pool.alloc(6 * pool.page_size)
        h.fill_random(pool, dst, seed=99)
        assert b.batch_get_v1(ks_, dst) == [True] * 6
        assert h.page_bytes(pool, dst) == h.page_bytes(pool, src)
        # The generic (copying) interface reads the same chunks.
        flat = pool.get_dummy_flat_data_page()
        assert b.get(ks_[2], flat) is flat
        assert flat.view(torch.uint8).numpy().tobytes() == h.page_bytes(pool, src)[2]
        assert b.exists(ks_[5]) and not b.exists(keys(1)[0])
    finally:
        b.close()


def test_hit_count_is_longest_prefix_and_min_over_tp_ranks(tmp_path):
    pools = [h.make_pool(), h.make_pool()]
    ranks = [h.attach("dynamic", h.kvtier_extra(tmp_path), p, r, 2) for r, p in enumerate(pools)]
    try:
        assert ranks[0].store.namespace_dir != ranks[1].store.namespace_dir
        k = keys(5)
        for b, p in zip(ranks, pools):
            idx = p.alloc(5 * p.page_size)
            h.fill_random(p, idx, seed=3)
            # rank 0 stores pages 0,1,3,4; rank 1 stores 0..2
            picks = [0, 1, 3, 4] if b is ranks[0] else [0, 1, 2]
            for i in picks:
                sl = idx[i * p.page_size : (i + 1) * p.page_size]
                assert b.batch_set_v1([k[i]], sl) == [True]
        counts = [b.batch_exists(k) for b in ranks]
        assert counts == [2, 3]  # SGLang all-reduces MIN: 2 pages are loadable everywhere
    finally:
        for b in ranks:
            b.close()


CHILD = r"""
import sys, hashlib, json
sys.path.insert(0, sys.argv[1])
import sglang_harness as h
pool = h.make_pool("page_first_direct")
b = h.attach("dynamic", h.kvtier_extra(sys.argv[2]), pool)
keys = json.loads(sys.argv[3])
dst = pool.alloc(len(keys) * pool.page_size)
hits = b.batch_exists(keys)
ok = b.batch_get_v1(keys, dst)
print(json.dumps({"hits": hits, "ok": ok,
      "sha": [hashlib.sha256(p).hexdigest() for p in h.page_bytes(pool, dst)],
      "ns": b.store.namespace_dir}))
b.close()
"""


def test_second_process_hits_what_the_first_stored(tmp_path):
    import hashlib

    pool = h.make_pool("page_first_direct")
    b = h.attach("dynamic", h.kvtier_extra(tmp_path), pool)
    k = keys(8)
    src = pool.alloc(8 * pool.page_size)
    h.fill_random(pool, src, seed=11)
    assert all(b.batch_set_v1(k, src))
    want = [hashlib.sha256(p).hexdigest() for p in h.page_bytes(pool, src)]
    ns = b.store.namespace_dir
    b.close()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, os.path.dirname(__file__), str(tmp_path), json.dumps(k)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["ns"] == ns
    assert got["hits"] == 8 and got["ok"] == [True] * 8
    assert got["sha"] == want


def test_corrupt_chunk_is_a_miss_and_sglang_carries_on(tmp_path):
    pool = h.make_pool("page_first_direct")
    b = h.attach("dynamic", h.kvtier_extra(tmp_path, lookup_cache_s=0.0), pool)
    try:
        k = keys(4)
        src = pool.alloc(4 * pool.page_size)
        h.fill_random(pool, src, seed=5)
        assert all(b.batch_set_v1(k, src))
        files = sorted(glob.glob(os.path.join(b.store.namespace_dir, "*", "*", "*.kv")))
        assert len(files) == 4  # one chunk per page, K and V gathered
        # Find page 2's chunk by its key (the file name is the key in hex);
        # the byte flipped below lies in its V segment, the second piece.
        victim = [f for f in files if (k[2].encode() + b"\0kv").hex() in f]
        assert len(victim) == 1
        with open(victim[0], "r+b") as f:
            f.seek(os.path.getsize(victim[0]) - 100)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0x40]))
        dst = pool.alloc(4 * pool.page_size)
        assert b.batch_get_v1(k, dst) == [True, True, False, True]
        assert h.page_bytes(pool, dst)[:2] == h.page_bytes(pool, src)[:2]
        assert b.stats()["verify_failures_total.payload_checksum"] == 1
        assert b.stats()["key_outcomes_total.get.corrupt"] == 1  # told apart from a miss
        # The bad file is gone: the hit count now stops before page 2.
        assert b.batch_exists(k) == 2
        # And SGLang can store the page again.
        assert b.batch_set_v1(k[2:3], src[2 * pool.page_size : 3 * pool.page_size]) == [True]
        assert b.batch_exists(k) == 4
    finally:
        b.close()


def _mount_tmpfs(path: str, size: str) -> bool:
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path], capture_output=True
    )
    return r.returncode == 0


def test_full_filesystem_fails_stores_not_sglang(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if not _mount_tmpfs(str(mnt), "1m"):
        pytest.skip("cannot mount a tmpfs here (needs CAP_SYS_ADMIN)")
    try:
        # 64 KiB a page (two 32 KiB segments): 1 MiB holds under 16 pages.
        pool = h.make_pool(
            "page_first_direct", layers=8, heads=2, head_dim=64, page_size=16, pages=80
        )
        b = h.attach("dynamic", h.kvtier_extra(mnt), pool)
        try:
            k = keys(32)
            src = pool.alloc(32 * pool.page_size)
            h.fill_random(pool, src, seed=21)
            res = b.batch_set_v1(k, src)  # no exception
            assert 0 < sum(res) < 32
            assert b.stats()["put_errors_total"] + b.stats().get("puts_dropped_total", 0) > 0
            stored = [i for i, r in enumerate(res) if r]
            dst = pool.alloc(len(stored) * pool.page_size)
            assert b.batch_get_v1([k[i] for i in stored], dst) == [True] * len(stored)
            want = h.page_bytes(pool, src)
            assert h.page_bytes(pool, dst) == [want[i] for i in stored]
            assert b.batch_exists(k) == (res.index(False) if False in res else 32)
        finally:
            b.close()
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_v2_hybrid_pools(tmp_path):
    kv = h.make_pool("page_first_direct")
    swa = h.make_pool("page_first_direct", layers=2)
    b = h.attach("dynamic", h.kvtier_extra(tmp_path), kv)
    b.register_mem_host_pool_v2(swa, PoolName.SWA)
    try:
        k = keys(6)
        kv_idx = kv.alloc(6 * kv.page_size)
        swa_idx = swa.alloc(2 * swa.page_size)
        h.fill_random(kv, kv_idx, seed=1)
        h.fill_random(swa, swa_idx, seed=2)
        # KV for all six pages, the SWA window for the last two only.
        put = b.batch_set_v2(
            [
                PoolTransfer(name=PoolName.KV, host_indices=kv_idx, keys=k),
                PoolTransfer(name=PoolName.SWA, host_indices=swa_idx, keys=k[4:]),
            ]
        )
        assert put == {"kv": [True] * 6, "swa": [True, True]}
        trailing = PoolTransfer(
            name=PoolName.SWA, keys=k[4:], hit_policy=PoolHitPolicy.TRAILING_PAGES
        )
        r = b.batch_exists_v2(k, [trailing])
        assert r.kv_hit_pages == 6 and r.extra_pool_hit_pages["swa"] == 6
        assert r.restorable_prefix_pages == [6]
        every = PoolTransfer(name=PoolName.SWA, keys=k, hit_policy=PoolHitPolicy.ALL_PAGES)
        assert b.batch_exists_v2(k, [every]).kv_hit_pages == 0
        dst = swa.alloc(2 * swa.page_size)
        got = b.batch_get_v2([PoolTransfer(name=PoolName.SWA, host_indices=dst, keys=k[4:])])
        assert got == {"swa": [True, True]}
        assert h.page_bytes(swa, dst) == h.page_bytes(swa, swa_idx)
        # Indices that do not match the pages asked for: per-key False, no exception.
        bad = b.batch_get_v2([PoolTransfer(name=PoolName.SWA, host_indices=dst[:3], keys=k[4:])])
        assert bad == {"swa": [False, False]}
    finally:
        b.close()


def test_builtin_file_backend_and_kvtier_share_one_root_without_confusion(tmp_path):
    pool = h.make_pool("page_first_direct")
    f = h.attach("file", {"file_storage_path": str(tmp_path)}, pool)
    b = h.attach("dynamic", h.kvtier_extra(tmp_path), pool)
    try:
        k = keys(2)
        src = pool.alloc(2 * pool.page_size)
        h.fill_random(pool, src, seed=8)
        pages = [pool.get_data_page(int(src[i * pool.page_size])) for i in range(2)]
        assert f.batch_set(k, pages)
        assert f.exists(k[0])
        assert b.batch_exists(k) == 0  # SGLang's flat .bin files are not kvtier chunks
    finally:
        b.close()


def test_deploy_manifest_parses_with_sglangs_own_arguments():
    import argparse

    yaml = pytest.importorskip("yaml")
    from sglang.srt.server_args import ServerArgs

    path = os.path.join(os.path.dirname(__file__), "../../deploy/kubernetes/sglang-deployment.yaml")
    (dep,) = [d for d in yaml.safe_load_all(open(path)) if d]
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    parser = argparse.ArgumentParser()
    ServerArgs.add_cli_args(parser)
    ns = parser.parse_args(container["args"])  # exits on an unknown flag
    assert ns.enable_hierarchical_cache and ns.hicache_storage_backend == "dynamic"
    extra = json.loads(ns.hicache_storage_backend_extra_config)
    assert extra["module_path"] == "kvtier.sglang" and extra["interface_v1"] == 1
    assert getattr(ks, extra["class_name"]) is ks.KvtierHiCacheStorage
    ks.parse_options(extra)  # raises on an unknown option


def test_cli_sees_sglang_namespaces_as_its_own(tmp_path):
    cli = os.environ.get("KVTIER_CLI", "build/release/src/cli/kvtier")
    if not os.access(cli, os.X_OK):
        pytest.skip(f"kvtier CLI not built at {cli}")
    pool = h.make_pool("page_first_direct")
    b = h.attach("dynamic", h.kvtier_extra(tmp_path), pool)
    k = keys(3)
    src = pool.alloc(3 * pool.page_size)
    h.fill_random(pool, src, seed=4)
    assert all(b.batch_set_v1(k, src))
    b.close()
    r = subprocess.run([cli, "stat", str(tmp_path), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (ns,) = json.loads(r.stdout)["namespaces"]
    assert ns["model"] == h.MODEL and ns["chunks"] == 3
    r = subprocess.run([cli, "verify", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
