"""``skadapt cache``: show or empty the folder where skadapt keeps its caches.

One folder serves every environment on the machine: ``$SKADAPT_CACHE_DIR``, or
``~/.cache/skadapt`` when it is not set. It holds the dequantized copies of GGUF
models (about 540 MB for SmolLM2-135M-Instruct, keyed on the GGUF file's content,
so every environment that installs the same file shares one copy), the remembered
sha256 digests of model files, and features cached by the demo and the
benchmarks. Everything in it is rebuilt on demand.

``skadapt cache info`` lists what is there; ``skadapt cache clear`` deletes it
(``--only models`` and so on for one part). Only the folders skadapt writes are
removed, nothing else that may share the location.
"""


def configure(parser):
    from skadapt._lm import CACHE_PARTS

    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser(
        "info", help="show the cache folder, the size of each part and the models",
        description="Show the cache folder, the size of each part and the "
                    "converted models in it.")
    clear = actions.add_parser(
        "clear", help="delete the cached models, digests and features",
        description="Delete what skadapt keeps in its cache folder; it is rebuilt "
                    "on demand (the next model load converts the GGUF file again, "
                    "about 20 s for SmolLM2).")
    clear.add_argument(
        "--only", nargs="+", choices=sorted(CACHE_PARTS), metavar="PART",
        help="delete only these parts: "
             + "; ".join(f"{name}: {text}" for name, text in CACHE_PARTS.items()))


def _size(n_bytes):
    for unit in ("bytes", "kB", "MB", "GB"):
        if n_bytes < 1000 or unit == "GB":
            return f"{n_bytes} bytes" if unit == "bytes" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    return ""  # not reached


def _where():
    import os

    from skadapt._lm import cache_dir

    origin = ("$SKADAPT_CACHE_DIR" if os.environ.get("SKADAPT_CACHE_DIR")
              else "default; set $SKADAPT_CACHE_DIR to move it")
    return f"{cache_dir()} ({origin})"


_STATUS = {
    "ok": "",
    "legacy": "  [keyed on mtime by skadapt 0.1: never read again, safe to clear]",
    "partial": "  [an interrupted conversion: safe to clear]",
    "no manifest": "  [not a complete skadapt entry: it is rebuilt on the next load]",
}


def main(args):
    from skadapt._lm import CACHE_PARTS, cache_info, clear_cache

    if args.action == "clear":
        freed = clear_cache(args.only)
        if not freed:
            print(f"nothing to remove in {_where()}")
            return 0
        for part, n_bytes in freed.items():
            print(f"removed {part}: {_size(n_bytes)}")
        print(f"freed {_size(sum(freed.values()))} in {_where()}")
        return 0

    info = cache_info()
    print(f"cache folder: {_where()}")
    if not info["parts"]:
        print("  empty")
        return 0
    for part, n_bytes in info["parts"].items():
        print(f"  {part:<9} {_size(n_bytes):>10}  {CACHE_PARTS[part]}")
    for entry in info["models"]:
        print(f"    models/{entry['name']}  {_size(entry['bytes'])}"
              f"{_STATUS.get(entry['status'], '')}")
    print(f"  total     {_size(sum(info['parts'].values())):>10}"
          "  (`skadapt cache clear` deletes it)")
    return 0
