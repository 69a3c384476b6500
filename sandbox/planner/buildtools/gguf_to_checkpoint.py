"""GGUF -> a plain transformers checkpoint (dequantized): `GGUF OUT DTYPE`.

Prints one JSON line: {"seconds": ..., "dtype": ...}. Runs in the sbx model-build venv, not in sbx.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(argv: list[str]) -> int:
    # The build venv's packages: imported here so that the module itself imports with the stdlib.
    import torch  # type: ignore[import-not-found]
    from transformers import AutoModelForCausalLM, AutoTokenizer  # type: ignore[import-not-found]

    gguf, out, dtype = argv
    folder, name = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
    started = time.monotonic()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=getattr(torch, dtype))
    # The weights are dequantized now; a checkpoint that still claims GGUF quantization cannot be saved.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    print(json.dumps({"seconds": time.monotonic() - started, "dtype": str(model.dtype)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
