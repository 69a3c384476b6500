"""The planner: model catalog and cache (`catalog`, `models`), generation under guidance (`onnx`).

Only `sandbox/planner/onnx.py` imports onnxruntime_genai, and only when a model is loaded, so that
the rest of sbx starts fast and works without it.
"""
