"""The planner: planning (`plan`: the `Planner`; `types`: its result types and protocols; `design`:
the one design of the product; `examples` and `data/`: the worked examples; `narrow`, `prompt`,
`verify`), the model catalog (`catalog`), the model store (`models`: the cache; `model_sources`,
`model_build` and `model_checksums` for where a model comes from, how it is built and checked; the
programs run in the build venv are `buildtools`), generation under guidance (`onnx`, served by
`service`), and the model commands the CLI calls (`commands`).

Only `sandbox/planner/onnx.py` imports onnxruntime_genai, and only when a model is loaded, so that
the rest of sbx starts fast and works without it.
"""
