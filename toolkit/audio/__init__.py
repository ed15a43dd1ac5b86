"""Audio family: SSBPR (snore-sound sleep body position recognition) and librosa features.

Modules: ``io`` (layouts, validated clip reader), ``features`` (log-mel/MFCC/stats, cache, workers),
``synth`` (synthetic-snore .wav generator), ``splits``, ``metrics``, ``classical`` (SVM/logreg),
``models`` (model table, SpecAugment, fold fitting), ``data`` (validation + featurisation of a run),
``ssbpr`` (train/eval/predict), ``extract`` (``lt audio features``). librosa and soundfile are
imported only inside the functions that use them.
"""
