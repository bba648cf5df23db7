"""Authenticated and encrypted chunks, and the format's limits, from Python."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import kvtier
from kvtier._store import ENGINE_STORE_OPTIONS, MAX_KEY_BYTES, MAX_PAYLOAD_BYTES

PATTERN = b"TENANT-A-SECRET-PROMPT-0123456789"


def key_file(tmp_path: Path, name: str, lines: str, mode: int = 0o600) -> str:
    p = tmp_path / name
    p.write_text(lines)
    os.chmod(p, mode)
    return str(p)


def secret_payload(n: int = 1 << 20) -> np.ndarray:
    buf = np.random.default_rng(3).integers(0, 256, n, dtype=np.uint8)
    for at in range(0, n - len(PATTERN), 4096):
        buf[at : at + len(PATTERN)] = np.frombuffer(PATTERN, np.uint8)
    return buf


def chunk_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.kv") if p.is_file()]


def test_engines_take_the_security_options():
    assert ENGINE_STORE_OPTIONS["auth_key_file"] == ""
    assert ENGINE_STORE_OPTIONS["encrypt"] is False


@pytest.mark.parametrize("encrypt", [False, True])
def test_authenticated_round_trip_and_plaintext_search(tmp_path, fingerprint, encrypt):
    keys = key_file(tmp_path, "keys", "# tenant a\n" + "ab" * 32 + "\n")
    root = tmp_path / "root"
    root.mkdir()
    data = secret_payload()
    with kvtier.Store(str(root), fingerprint, auth_key_file=keys, encrypt=encrypt) as s:
        assert s.put(b"k", data)
        out = np.zeros_like(data)
        assert s.get(b"k", out) and np.array_equal(out, data)
        ns = s.namespace_dir
    (f,) = chunk_files(root)
    # MAC only: the payload is stored as is; encrypted: no trace of it.
    assert (PATTERN in f.read_bytes()) is not encrypt
    assert '"auth_key_id"' in (Path(ns) / "fingerprint.json").read_text()
    with kvtier.Store(str(root), fingerprint) as plain:
        assert plain.namespace_dir != ns


def test_plain_chunk_planted_in_an_authenticated_namespace_is_a_miss(tmp_path, fingerprint):
    keys = key_file(tmp_path, "keys", "cd" * 32 + "\n")
    root = tmp_path / "root"
    root.mkdir()
    victim = kvtier.Store(str(root), fingerprint, auth_key_file=keys)
    published = (Path(victim.namespace_dir) / "fingerprint.json").read_text()
    attacker = kvtier.Store(str(root), json.loads(published))
    assert attacker.namespace_dir == victim.namespace_dir
    poison = np.full(4096, 7, np.uint8)
    assert attacker.put(b"victim-key", poison)
    out = np.zeros_like(poison)
    assert not victim.get(b"victim-key", out)
    assert victim.stats()["verify_failures_total.auth"] == 1
    attacker.close()
    victim.close()


CLI = os.environ.get("KVTIER_CLI", "build/release/src/cli/kvtier")


@pytest.mark.skipif(not os.access(CLI, os.X_OK), reason=f"kvtier CLI not built at {CLI}")
def test_verify_flags_a_plain_chunk_in_an_authenticated_namespace(tmp_path, fingerprint):
    """`kvtier verify` judges a chunk as loads do: in a namespace opened with
    a key file, a plain chunk with a valid checksum is bad (with the key file
    or without), while a plain namespace's chunks stay good."""
    keys = key_file(tmp_path, "keys", "ef" * 32 + "\n")
    root = tmp_path / "root"
    root.mkdir()
    data = np.arange(8192, dtype=np.uint8)
    with kvtier.Store(str(root), fingerprint, auth_key_file=keys) as victim:
        assert victim.put(b"sealed", data)
        sealed_ns = Path(victim.namespace_dir)
        published = json.loads((sealed_ns / "fingerprint.json").read_text())
    (sealed,) = chunk_files(sealed_ns)
    r = subprocess.run(
        [CLI, "inspect", str(sealed), "--json", "--auth-key-file", keys],
        capture_output=True,
        text=True,
        timeout=120,
    )
    header = json.loads(r.stdout)["header"]
    # Which MAC depends on the CPU (the faster of the two, timed at open).
    assert r.returncode == 0 and header["auth_algorithm"] in ("chacha20-poly1305", "gmac"), r.stdout
    with kvtier.Store(str(root), published) as attacker:
        assert attacker.put(b"planted", data)
    with kvtier.Store(str(root), {**fingerprint, "model": "org/plain"}) as plain:
        assert plain.put(b"plain", data)

    def verify(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [CLI, "verify", str(root), "--json", *args], capture_output=True, text=True, timeout=120
        )

    for args in ([], ["--auth-key-file", keys]):
        r = verify(*args)
        assert r.returncode == 1, r.stderr
        out = json.loads(r.stdout)
        assert out["checked"] == 3
        planted = [b for b in out["bad_chunks"] if b["reason"].startswith("auth: plain chunk")]
        assert len(planted) == 1 and not planted[0]["removed"]
        # Without the key file the sealed chunk cannot be checked either.
        assert out["good"] == (2 if args else 1)
    r = verify("--auth-key-file", keys, "--delete-bad")
    assert r.returncode == 1 and json.loads(r.stdout)["removed"] == 1
    r = verify("--auth-key-file", keys)
    assert r.returncode == 0, r.stdout
    assert json.loads(r.stdout)["good"] == 2


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        (None, 0o600, "No such file"),
        ("", 0o600, "no key"),
        ("ab" * 32 + "\n", 0o644, "mode 0644"),
        ("ab" * 32 + "\n", 0o640, "mode 0640"),
        ("ab" * 16 + "\n", 0o600, "16 bytes"),
    ],
)
def test_bad_key_file_is_a_clear_error_at_open(tmp_path, fingerprint, content, mode, message):
    path = str(tmp_path / "keys")
    (tmp_path / "root").mkdir()
    if content is not None:
        key_file(tmp_path, "keys", content, mode)
    with pytest.raises(ValueError, match=message):
        kvtier.Store(str(tmp_path / "root"), fingerprint, auth_key_file=path)


def test_encrypt_needs_a_key(tmp_path, fingerprint):
    with pytest.raises(ValueError, match="encrypt needs auth_key_file"):
        kvtier.Store(str(tmp_path), fingerprint, encrypt=True)


def test_key_over_the_format_limit_is_refused_at_put(tmp_path, fingerprint):
    with kvtier.Store(str(tmp_path), fingerprint) as s:
        long_key = b"x" * (MAX_KEY_BYTES + 1)
        data = np.ones(4096, np.uint8)
        with pytest.raises(ValueError, match=f"at most {MAX_KEY_BYTES}"):
            s.put(long_key, data)
        with pytest.raises(ValueError, match=f"at most {MAX_KEY_BYTES}"):
            s.submit_put([b"ok", long_key], [data, data])
        # Nothing was queued or written; get and contains see nothing either.
        assert s.contains([long_key, b"ok"]) == [False, False]
        assert not chunk_files(tmp_path)
        st = s.stats()
        assert st["puts_total"] == 0 and st["verify_failures_total.header_checksum"] == 0
        # The longest key the format holds still works.
        assert s.put(b"y" * MAX_KEY_BYTES, data)
        out = np.zeros_like(data)
        assert s.get(b"y" * MAX_KEY_BYTES, out) and np.array_equal(out, data)


def test_payload_limit_is_exported():
    assert MAX_PAYLOAD_BYTES == 1 << 36
