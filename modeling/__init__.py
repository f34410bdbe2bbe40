"""The model toolchain: everything that makes and judges the detector's model, beside the edge box.

- ``modeling.synth``: synthetic training data and scenario clips composited on real footage
  (``nce data synth``, ``nce data scenario``).
- ``modeling.training``: fine-tuning and ONNX export through Ultralytics (the ``train`` extra);
  ``modeling.onnx_checkpoint``: a PyTorch checkpoint rebuilt from a shipped ONNX model.
- ``modeling.evaluation``: mAP on a labelled dataset and the false-positive check on real footage,
  measured with the edge's own ONNX runtime.
- ``modeling.cli``: the ``nce data`` and ``nce model`` commands.
- ``modeling.finetune``: fine-tuning on an export of the service's frame pool mixed with synthetic
  replay sets (``nce model train --dataset``), and what came from where.

The dependency runs one way: ``modeling`` imports ``detector`` (its runtime, config and error tree)
and ``nce`` (the contracts); ``detector`` never imports ``modeling`` (a test walks its source), so
the edge box runs, and ships, without any of this.
"""
