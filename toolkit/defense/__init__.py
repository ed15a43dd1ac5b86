"""Defenses: MDL training (:mod:`.mdl`), the FACM pipeline (:mod:`.facm`) and an honest robustness
evaluator (:mod:`.evaluate`). Specs: ``docs/defense.md``.

Importing :mod:`toolkit.defense.facm` registers the ``facm`` rebuild function in
``toolkit.models.MODEL_FACTORIES`` so saved FACM pipelines load wherever a model is accepted.
"""
