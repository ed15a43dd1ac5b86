"""Defenses: MDL training (:mod:`.mdl`), the FACM pipeline (:mod:`.facm`) and an honest robustness
evaluator (:mod:`.evaluate`). Specs: ``docs/defense.md``.

``toolkit.models.COMPOSITE_MODELS`` names :func:`toolkit.defense.facm.facm_from_checkpoint` (imported
on first use), so saved FACM pipelines load wherever a model is accepted.
"""
