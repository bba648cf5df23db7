"""An evictor running as another user of the same group deletes what vLLM stored.

The deployment runs vLLM and the evictor as different non-root users sharing
one group (Pod Security "restricted"). Unlinking a chunk needs write
permission on its directory, so the store must create its directories
group-writable (dir_mode 2775; the umask would strip the group bit) and in
the shared group (group, inherited below through setgid). This test makes
two real Unix users in one group, stores chunks as user A through the Python
package and runs the real kvtier-evictor as user B; with the default modes
the same evictor deletes nothing.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

EVICTOR = os.environ.get("KVTIER_EVICTOR", "build/release/src/evictor/kvtier-evictor")
CHUNKS = 24
CHUNK_BYTES = 64 << 10

WRITER = """
import os, sys, kvtier
root, dir_mode, group = sys.argv[1], sys.argv[2], sys.argv[3] or None
fp = {"model": "test/group", "kv_dtype": "bfloat16"}
with kvtier.Store(root, fp, dir_mode=dir_mode, group=group, direct_io=False) as s:
    for i in range(%d):
        assert s.put(b"key-%%d" %% i, os.urandom(%d)), i
    print(s.namespace_dir)
""" % (CHUNKS, CHUNK_BYTES)


def _world_usable(path: Path) -> bool:
    """Every directory above `path` searchable and `path` executable by others."""
    p = path.resolve()
    if not p.exists() or not p.stat().st_mode & stat.S_IXOTH:
        return False
    return all(d.stat().st_mode & stat.S_IXOTH for d in p.parents)


def _interpreter() -> str:
    """An interpreter of this version that another user can run (a venv or a
    pyenv under root's home is not)."""
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for cand in (Path(sys.executable), Path("/usr/bin") / name, Path("/usr/local/bin") / name):
        if _world_usable(cand):
            return str(cand.resolve())
    pytest.skip(f"no {name} that another user may run")


def _run(cmd: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd}: {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture
def two_users():
    """Users A and B, each with a private primary group, both in group G;
    a world-readable scratch directory with the package and the evictor."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd to create two users")
    if not os.access(EVICTOR, os.X_OK):
        pytest.skip(f"evictor not built at {EVICTOR}")
    python = _interpreter()
    import kvtier

    tag = f"{os.getpid() % 100000}"
    group, users = f"kvtg{tag}", [f"kvta{tag}", f"kvtb{tag}"]
    base = Path(tempfile.mkdtemp(prefix="kvtier-group-", dir="/tmp"))
    made: list[tuple[str, str]] = []
    try:
        base.chmod(0o755)
        pkg = base / "pkg" / "kvtier"
        pkg.mkdir(parents=True)
        src = Path(kvtier.__file__).parent
        for f in src.iterdir():
            if f.name.endswith(".py") or f.name.startswith("_kvtier"):
                shutil.copy(f, pkg / f.name)
        for d in (base / "pkg", pkg):
            d.chmod(0o755)
        evictor = base / "kvtier-evictor"
        shutil.copy(EVICTOR, evictor)
        evictor.chmod(0o755)
        _run(["groupadd", group])
        made.append(("groupdel", group))
        for u in users:
            _run(["useradd", "-M", "-U", "-G", group, "-s", "/usr/sbin/nologin", u])
            made.append(("userdel", u))
        yield {
            "base": base,
            "python": python,
            "evictor": str(evictor),
            "gid": grp.getgrnam(group).gr_gid,
            "group": group,
            "a": pwd.getpwnam(users[0]),
            "b": pwd.getpwnam(users[1]),
        }
    finally:
        for cmd, name in reversed(made):
            subprocess.run([cmd, name], capture_output=True, timeout=60)
            if cmd == "userdel":  # its private group, where userdel leaves it
                subprocess.run(["groupdel", name], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def _as(user: pwd.struct_passwd, gid: int) -> dict:
    """subprocess arguments that run as `user` (private primary group) with
    `gid` as a supplementary group, under a umask that strips group write."""
    return {
        "user": user.pw_uid,
        "group": user.pw_gid,
        "extra_groups": [gid],
        "umask": 0o022,
        "env": {"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    }


def _store_as_a(u: dict, root: Path, dir_mode: str, group: str) -> Path:
    kw = _as(u["a"], u["gid"])
    kw["env"]["PYTHONPATH"] = str(u["base"] / "pkg")
    r = _run([u["python"], "-c", WRITER, str(root), dir_mode, group], **kw)
    return Path(r.stdout.strip().splitlines()[-1])


def _evict_as_b(u: dict, root: Path) -> subprocess.CompletedProcess:
    # Quota far below what was stored: every chunk is over the watermark.
    cmd = [u["evictor"], "--once", "--quota-bytes=64K", "--high=50", "--low=10"]
    cmd += ["--min-age=0s", "--port=0", str(root)]
    return _run(cmd, check=False, **_as(u["b"], u["gid"]))


def _chunks(ns: Path) -> list[Path]:
    return sorted(ns.glob("*/*/*.kv"))


def _make_root(u: dict) -> Path:
    """The volume's root as the one-time preparation leaves it (the shared
    group's, group-writable), then the cache root as the evictor's init
    step makes it: by user B, group-writable. Neither is setgid here, so
    the store's group option has to put its directories in the group."""
    volume = u["base"] / f"volume-{len(list(u['base'].glob('volume-*')))}"
    volume.mkdir()
    os.chown(volume, 0, u["gid"])
    volume.chmod(0o775)
    root = volume / "kv-cache"
    kw = _as(u["b"], u["gid"])
    kw["group"] = u["gid"]  # runAsGroup: the shared group is B's primary here
    _run(["mkdir", "-m", "775", str(root)], **kw)
    return root


def test_evictor_of_another_user_in_the_group_deletes_chunks(two_users):
    u = two_users
    root = _make_root(u)
    ns = _store_as_a(u, root, "2775", u["group"])
    chunks = _chunks(ns)
    assert len(chunks) == CHUNKS
    dirs = [ns, *{c.parent for c in chunks}, *{c.parent.parent for c in chunks}]
    for d in dirs:
        st = d.stat()
        assert stat.S_IMODE(st.st_mode) == 0o2775, (d, oct(st.st_mode))
        assert st.st_gid == u["gid"] and st.st_uid == u["a"].pw_uid, d
    for c in chunks:
        st = c.stat()
        assert st.st_uid == u["a"].pw_uid and st.st_gid == u["gid"], c  # setgid inheritance
        assert stat.S_IMODE(st.st_mode) == 0o644, oct(st.st_mode)

    r = _evict_as_b(u, root)
    assert r.returncode == 0, r.stderr
    left = _chunks(ns)
    assert len(left) < CHUNKS // 4, (len(left), r.stderr)
    assert (ns / "fingerprint.json").exists()


def test_with_default_modes_the_other_user_deletes_nothing(two_users):
    # The control: same users and root, the store's defaults (0755, the
    # writer's own group). B may read but not unlink, and --once says so.
    u = two_users
    root = _make_root(u)
    ns = _store_as_a(u, root, "0755", "")
    assert stat.S_IMODE(ns.stat().st_mode) == 0o755
    assert ns.stat().st_gid == u["a"].pw_gid
    r = _evict_as_b(u, root)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert len(_chunks(ns)) == CHUNKS


def test_modes_are_applied_past_the_umask_and_checked(tmp_path, fingerprint):
    import kvtier

    old = os.umask(0o077)  # would leave 0700 directories and 0600 files
    try:
        with kvtier.Store(tmp_path, fingerprint, dir_mode="2775", file_mode=0o640) as s:
            assert s.put(b"k", b"x" * 4096)
            ns = Path(s.namespace_dir)
    finally:
        os.umask(old)
    (chunk,) = _chunks(ns)
    for d in (ns, chunk.parent, chunk.parent.parent):
        assert stat.S_IMODE(d.stat().st_mode) == 0o2775, d
    assert stat.S_IMODE(chunk.stat().st_mode) == 0o600  # files: open(2) and the umask
    for bad in ({"dir_mode": "0644"}, {"file_mode": "0200"}, {"dir_mode": "9"}, {"group": -5}):
        with pytest.raises(ValueError):
            kvtier.Store(tmp_path / "x", fingerprint, **bad)
