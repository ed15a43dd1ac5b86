"""MuSe 2022 multimodal sentiment (humor, reaction, stress): data, metrics, losses, training.

Modules: ``layout`` (official folders, partition and feature CSVs, normalisation, alignment),
``loaders`` (the three tasks, early fusion), ``synthetic`` (the ``synthetic-muse`` generator),
``dataset`` (windowing, padding collate), ``metrics`` (challenge metrics), ``losses``, ``export``
(submission CSVs, late fusion), ``train`` (``lt train muse``). Models: ``toolkit.models.sequence``.
"""
