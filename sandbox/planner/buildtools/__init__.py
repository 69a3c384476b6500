"""The model build programs: scripts that run in the model-build venv (torch, transformers, the
onnxruntime-genai model builder), where sbx itself is not installed.

Each is self-contained (the standard library and the build venv's packages, never `sandbox`) and is
run as `python -P -c SOURCE ARGS...` with its source read as package data (`sandbox.resources`);
sbx never imports them. They live here, as modules, so that ruff and mypy check them.
"""
