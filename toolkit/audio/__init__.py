"""Audio family: SSBPR (snore-sound sleep body position recognition) on librosa features.

Modules: ``options`` (the commands' options), ``metrics``, ``classical`` (SVM/logreg), ``models``
(model table, SpecAugment, fold fitting), ``ssbpr`` (train/eval/predict), ``extract``
(``lt audio features``). The format readers and features are the data layer's (``toolkit.data``:
``ssbpr_layout`` (layouts, validated clip reader), ``audio_features`` (log-mel/MFCC/stats, cache,
workers), ``ssbpr_prepare`` (validation + featurisation of a run), ``audio_splits``,
``snore_synthetic`` (the .wav generator)). librosa and soundfile are imported only inside the
functions that use them.
"""
