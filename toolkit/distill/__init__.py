"""Knowledge distillation for dark video: KD (one teacher) and UKD (many cached teachers).

* :mod:`.losses` -- the KD loss and the multi-teacher combine rules (``--combine``);
* :mod:`.cache` -- the on-disk teacher-logit cache (one teacher at a time, resumable);
* :mod:`.video_train` -- ``lt train video`` (teachers and baselines through the engine loop);
* :mod:`.ukd` -- ``lt distill kd`` / ``lt distill ukd`` (and the naive ``--mode live`` baseline).
"""

from .losses import COMBINES, check_kd_args, get_combine, kd_loss, list_combines

__all__ = ["COMBINES", "check_kd_args", "get_combine", "kd_loss", "list_combines"]
