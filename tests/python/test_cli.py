"""The kvtier CLI: stat, verify (exit status, --delete-bad), inspect, --json,
and `kvtier evict --once`. Uses the binary named by $KVTIER_CLI (set by
tools/test.sh) or the default release build."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import kvtier

CLI = os.environ.get("KVTIER_CLI", "build/release/src/cli/kvtier")
if not os.access(CLI, os.X_OK):
    pytest.skip(f"kvtier CLI not built at {CLI}", allow_module_level=True)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    with kvtier.Store(str(tmp_path), {"model": "org/cli-model"}, read_threads=1) as s:
        for i in range(5):
            assert s.put(b"k%d" % i, os.urandom(10000))
    return tmp_path


def test_stat_json(root):
    r = run("stat", str(root), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    (ns,) = out["namespaces"]
    assert ns["model"] == "org/cli-model"
    assert ns["chunks"] == 5 and ns["temp_files"] == 0
    human = run("stat", str(root))
    assert "5 chunks" in human.stdout and "KiB" in human.stdout


def test_verify_detects_and_deletes_bad_chunks(root):
    assert run("verify", str(root)).returncode == 0
    victim = sorted(root.rglob("*.kv"))[0]
    data = bytearray(victim.read_bytes())
    data[4096 + 7] ^= 0xFF
    victim.write_bytes(bytes(data))
    r = run("verify", str(root), "--json")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["bad"] == 1 and out["good"] == 4
    assert out["bad_chunks"][0]["reason"] == "payload_checksum"
    assert victim.exists()
    r = run("verify", str(root), "--delete-bad")
    assert r.returncode == 1 and "removed" in r.stdout
    assert not victim.exists()
    assert run("verify", str(root)).returncode == 0


def test_inspect(root):
    f = sorted(root.rglob("*.kv"))[0]
    r = run("inspect", str(f), "--json")
    assert r.returncode == 0, r.stdout
    out = json.loads(r.stdout)
    assert out["valid"] and out["header"]["payload_length"] == 10000
    assert out["header"]["checksum"] == "xxh3-128"
    garbage = root / "garbage.kv"
    garbage.write_bytes(b"\x00" * 100)
    r = run("inspect", str(garbage))
    assert r.returncode == 1 and "valid: NO" in r.stdout


def test_bad_arguments_fail_cleanly(tmp_path):
    assert run("stat", str(tmp_path / "missing")).returncode != 0
    assert run("bench", "--size", "banana").returncode != 0
    assert run("nonsense").returncode != 0


def test_evict_once_dry_run(root):
    r = run("evict", "--once", "--dry-run", "--min-age", "0s", str(root))
    assert r.returncode == 0, r.stderr
    assert len(list(root.rglob("*.kv"))) == 5  # dry run deletes nothing


@pytest.fixture
def linked_root(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ROOT reached through a symlink, as /scratch -> /lustre/scratch."""
    link = tmp_path_factory.mktemp("site") / "scratch"
    link.symlink_to(root)
    return link


def test_symlinked_root_stat_verify_inspect(root, linked_root, tmp_path_factory):
    r = run("stat", str(linked_root), "--json")
    assert r.returncode == 0, r.stderr
    (ns,) = json.loads(r.stdout)["namespaces"]
    assert ns["chunks"] == 5
    r = run("verify", str(linked_root))
    assert r.returncode == 0, r.stderr + r.stdout
    assert "checked 5 chunks: 5 good" in r.stdout
    chunk = sorted(root.rglob("*.kv"))[0]
    r = run("inspect", str(linked_root / chunk.relative_to(root)), "--json")
    assert r.returncode == 0, r.stderr + r.stdout
    assert json.loads(r.stdout)["valid"]
    # Below the root a symlink is never followed: a chunk-named link to a
    # valid chunk outside is a bad entry, and its target is never touched.
    outside = tmp_path_factory.mktemp("outside") / chunk.name
    outside.write_bytes(chunk.read_bytes())
    link = chunk.parent / ("ab" + chunk.name)
    link.symlink_to(outside)
    r = run("verify", str(linked_root), "--json")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["good"] == 5 and out["bad"] == 1
    assert out["bad_chunks"][0]["reason"] == "not_regular_file"
    r = run("inspect", str(linked_root / link.relative_to(root)))
    assert r.returncode == 1 and "valid: NO" in r.stdout
    assert run("verify", str(linked_root), "--delete-bad").returncode == 1
    assert outside.read_bytes() == chunk.read_bytes()


def test_evict_once_through_symlinked_root(root, linked_root):
    args = ["--once", "--port", "0", "--min-age", "0s", "--quota-bytes", "1", "--low", "0"]
    r = run("evict", *args, str(linked_root))
    assert r.returncode == 0, r.stderr
    assert not list(root.rglob("*.kv"))
    assert len(list(root.glob("*/fingerprint.json"))) == 1


def test_verify_fails_over_an_unreadable_directory():
    """A fan-out directory that verify cannot list hides chunks it never
    checked: exit 1, naming the directory. Run unprivileged (root reads
    anything), with the tree and a copy of the CLI where that user can reach
    them (tmp_path's parent, and maybe the checkout, are private to root)."""
    base = Path(tempfile.mkdtemp(prefix="kvtier-verify-")).resolve()
    bindir = Path(tempfile.mkdtemp(prefix="kvtier-cli-"))
    locked = None
    try:
        base.chmod(0o755)
        bindir.chmod(0o755)
        cli = shutil.copy(CLI, bindir / "kvtier")
        with kvtier.Store(str(base), {"model": "org/cli-model"}, read_threads=1) as s:
            for i in range(5):
                assert s.put(b"k%d" % i, os.urandom(10000))
        for p in base.rglob("*"):
            p.chmod(0o755 if p.is_dir() else 0o644)
        locked = sorted(base.rglob("*.kv"))[0].parent.parent  # <namespace>/<aa>
        locked.chmod(0)
        kw = {"user": 65534, "group": 65534, "extra_groups": []} if os.geteuid() == 0 else {}

        def verify(*args: str) -> subprocess.CompletedProcess:
            cmd = [str(cli), "verify", str(base), *args]
            return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)

        r = verify()
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"cannot read {locked}" in r.stderr
        assert "0 bad" in r.stdout and "1 unreadable" in r.stdout
        out = json.loads(verify("--json").stdout)
        assert out["bad"] == 0 and [u["path"] for u in out["unreadable"]] == [str(locked)]
        locked.chmod(0o755)
        r = verify()
        assert r.returncode == 0 and "checked 5 chunks: 5 good" in r.stdout, r.stdout + r.stderr
    finally:
        if locked is not None:
            locked.chmod(0o755)
        shutil.rmtree(base)
        shutil.rmtree(bindir)
