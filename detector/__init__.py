"""The edge side of NCE: config, sources, model, tracking, rules, evidence, outbox, pipeline.

Importing this package is cheap: sub-modules are imported where they are used.
"""
