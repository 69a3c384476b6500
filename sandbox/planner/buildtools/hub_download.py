"""Download one file from Hugging Face: `REPO_ID FILENAME REVISION LOCAL_DIR`; prints its path.

Runs in the sbx model-build venv (huggingface_hub comes with transformers), not in sbx.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from huggingface_hub import hf_hub_download  # type: ignore[import-not-found]

    repo_id, filename, revision, local_dir = argv
    print(hf_hub_download(repo_id=repo_id, filename=filename, revision=revision, local_dir=local_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
