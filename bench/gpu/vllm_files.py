"""Lists the vllm files that bench/vllm_tier_vs_builtin.py imports.

Runs the benchmark once on a tiny prefix and writes, one per line and
relative to site-packages, every vllm module file it loaded, the built-in
tier's C I/O helper and vllm's dist-info: what bench/gpu/prepare.sh packs for
the GPU host, which cannot install vLLM.

  python bench/gpu/vllm_files.py LIST
"""

import os
import runpy
import sys
import tempfile


def main() -> None:
    out = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    bench = os.path.join(here, "..", "vllm_tier_vs_builtin.py")
    tmp = tempfile.mkdtemp(prefix="kvtier-vllm-files-")
    sys.argv = [bench, "--dirs", tmp, "--prefix-tokens", "1024", "--json"]
    runpy.run_path(bench, run_name="__main__")

    import vllm

    site = os.path.dirname(os.path.dirname(vllm.__file__))
    files = set()
    for mod in list(sys.modules.values()):
        path = getattr(mod, "__file__", None) or ""
        if path.startswith(os.path.join(site, "vllm") + os.sep):
            files.add(os.path.relpath(path, site))
    for name in os.listdir(os.path.join(site, "vllm")):
        if name.startswith("fs_io_C"):
            files.add(os.path.join("vllm", name))
    for name in os.listdir(site):
        if name.startswith("vllm-") and name.endswith(".dist-info"):
            for f in os.listdir(os.path.join(site, name)):
                files.add(os.path.join(name, f))
    with open(out, "w") as f:
        f.write("\n".join(sorted(files)) + "\n")
    print(f"{len(files)} vllm files", file=sys.stderr)


if __name__ == "__main__":
    main()
