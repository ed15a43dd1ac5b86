"""MuSe 2022 multimodal sentiment (humor, reaction, stress): metrics, losses, training, late fusion.

Modules: ``options`` (``lt train muse``'s options, :class:`~toolkit.muse.options.MuseOptions`), ``metrics``
(challenge metrics), ``losses``, ``export`` (submission CSVs, late fusion), ``train`` (``lt train muse``).
The data side lives in the data layer: ``toolkit.data.muse_layout`` (official folders, partition and
feature CSVs, normalisation, alignment), ``toolkit.data.muse_loaders`` (the three tasks, early fusion),
``toolkit.data.muse_synthetic`` (the ``synthetic-muse`` generator), ``toolkit.data.muse_sequences``
(windowing, padding collate), ``toolkit.data.muse`` (the ``muse`` / ``synthetic-muse`` datasets).
Models: ``toolkit.models.sequence``.
"""
