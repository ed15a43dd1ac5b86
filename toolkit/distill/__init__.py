"""Knowledge distillation for dark video: KD (one teacher) and UKD (many cached teachers).

* :mod:`.options` -- the commands' options, defined once (pure Python: the CLI imports it at startup);
* :mod:`.losses` -- the KD loss and the multi-teacher combine rules (``--combine``);
* :mod:`.cache` -- the on-disk teacher-logit cache (one teacher at a time, resumable);
* :mod:`.video_train` -- ``lt train video`` (teachers and baselines through the engine loop);
* :mod:`.ukd` -- ``lt distill kd`` / ``lt distill ukd`` (and the naive ``--mode live`` baseline).

Nothing is imported here, so importing :mod:`.options` loads no torch.
"""
