"""``synthetic-snore``: a seeded snore generator written as .wav files in the released layout.

Each clip is a jittered pulse train at a snoring fundamental (male 70-110 Hz, female 100-150 Hz)
passed through three resonances whose centre frequencies and spectral tilt depend on the position
class, with per-subject timbre (all resonances scaled by one subject factor, per-resonance offsets,
a tilt offset), a breathing envelope (one snore event of 0.9-1.4 s inside the clip) and background
breath noise. ``subject_strength`` scales the subject effect: at 1.0 it is about as strong as the
class effect, so a random split (same subjects on both sides) scores far above a subject split.
These numbers are our choice (the SSBPR paper describes no generator).

Files: ``ROOT/{female,male}/{clip:03d}/{subject:02d}-1-{label}.wav`` (16-bit PCM): released
``A-B-C.wav`` names (patient ``A-B``, label ``C``), the several clips of one patient and position in
one folder level below ``female/``/``male/`` (where the OPERA benchmark globs ``SSBPR/*/*/*.wav``);
read back by :func:`toolkit.data.ssbpr_layout.find_items` like the real data. A ``.complete`` marker
(the parameters as JSON) tells a finished set from anything else in the folder.

    lt audio ssbpr train --dataset synthetic-snore --model cnn
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..engine.cache import cache_root, marker_matches
from ..engine.errors import check
from ..engine.fingerprint import params_key

# Position class -> resonance centres (Hz) and spectral tilt (dB/octave); our choice.
CLASS_FORMANTS = ((400, 1200, 2600), (480, 1380, 2500), (430, 1050, 2850),
                  (560, 1500, 2700), (520, 1250, 3050), (350, 950, 2350))
CLASS_TILT = (-6.0, -5.0, -7.0, -4.0, -4.5, -8.0)
BANDWIDTHS = (90.0, 140.0, 220.0)
DONE = ".complete"
LAYOUT = 2  # 2: released A-B-C.wav names (1 wrote A-B-C_K.wav, which the release does not have)


def _resonate(x: np.ndarray, freq: float, bw: float, sr: int) -> np.ndarray:
    from scipy.signal import lfilter

    r = np.exp(-np.pi * bw / sr)
    theta = 2 * np.pi * min(freq, 0.45 * sr) / sr
    return lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], x)


def _tilt(x: np.ndarray, db_per_octave: float, sr: int) -> np.ndarray:
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(x.size, 1 / sr)
    spec *= 10 ** (db_per_octave * np.log2(np.maximum(f, 50.0) / 100.0) / 20)
    return np.fft.irfft(spec, n=x.size)


def _pulses(n: int, f0: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    x = np.zeros(n)
    t = rng.uniform(0, sr / f0)
    while t < n:
        x[int(t)] = rng.uniform(0.7, 1.3)
        t += sr / (f0 * rng.uniform(0.95, 1.05))
    return x


def _envelope(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    length = int(min(n, rng.uniform(0.9, 1.4) * sr))
    start = int(rng.uniform(0, max(1, n - length)))
    env = np.zeros(n)
    env[start:start + length] = np.sin(np.linspace(0, np.pi, length)) ** 2
    return env


def snore_clip(label: int, subject: dict, sr: int, duration: float, rng: np.random.Generator) -> np.ndarray:
    """One clip of position ``label`` for ``subject`` (from :func:`subject_timbre`), peak ~0.5."""
    n = int(round(duration * sr))
    x = _pulses(n, subject["f0"] * rng.uniform(0.93, 1.07), sr, rng)
    y = np.zeros(n)
    for k, (f, bw) in enumerate(zip(CLASS_FORMANTS[label], BANDWIDTHS, strict=True)):
        fk = f * subject["scale"] * subject["offsets"][k] * rng.uniform(0.98, 1.02)
        y += _resonate(x, fk, bw, sr) / (k + 1)
    y = _tilt(y, CLASS_TILT[label] + subject["tilt"], sr)
    y = y / (np.max(np.abs(y)) + 1e-12) * _envelope(n, sr, rng)
    y += rng.normal(0, 10 ** (-45 / 20), n)  # breath noise about -45 dB below the peak
    return (0.5 * rng.uniform(0.5, 1.0) * y / (np.max(np.abs(y)) + 1e-12)).astype(np.float32)


def subject_timbre(index: int, strength: float, rng: np.random.Generator) -> dict:
    female = index % 2 == 1
    return {"female": female, "f0": rng.uniform(100, 150) if female else rng.uniform(70, 110),
            "scale": float(np.exp(rng.normal(0, 0.10 * strength))),
            "offsets": np.exp(rng.normal(0, 0.06 * strength, 3)), "tilt": float(rng.normal(0, 1.5 * strength))}


def generate(root: str | Path, *, subjects: int = 8, clips: int = 5, classes: int = 6, sample_rate: int = 16000,
             duration: float = 2.0, subject_strength: float = 1.0, seed: int = 0) -> list[Path]:
    """Write ``subjects x classes x clips`` .wav files under ``root`` (released layout); returns them."""
    import soundfile as sf

    check(subjects >= 1 and clips >= 1 and 1 <= classes <= len(CLASS_TILT),
          f"synthetic-snore needs subjects >= 1, clips >= 1 and 1 <= classes <= {len(CLASS_TILT)}")
    check(duration > 0, f"--duration must be > 0 seconds (got {duration})")
    root = Path(root)
    out = []
    for s in range(subjects):
        rng = np.random.default_rng([seed, s])
        subj = subject_timbre(s, subject_strength, rng)
        folder = root / ("female" if subj["female"] else "male")
        folder.mkdir(parents=True, exist_ok=True)
        for c in range(classes):
            for k in range(clips):
                path = folder / f"{k:03d}" / f"{s + 1:02d}-1-{c}.wav"
                path.parent.mkdir(exist_ok=True)
                sf.write(str(path), snore_clip(c, subj, sample_rate, duration, rng), sample_rate, subtype="PCM_16")
                out.append(path)
    return out


DEFAULTS = {"subjects": 8, "clips": 5, "classes": 6, "sample_rate": 16000, "duration": 2.0,
            "subject_strength": 1.0, "seed": 0}


def ensure_generated(root: str | Path, **params) -> Path:
    """The set of ``params`` at ``root``: reused if its marker matches, written if ``root`` holds no
    audio; a folder with other audio (the user's data, or an older layout) is never written into."""
    from ..engine.errors import DataError

    params = {**DEFAULTS, **{k: v for k, v in params.items() if v is not None}}
    root, want = Path(root), {"layout": LAYOUT, **params}
    marker = root / DONE
    if marker_matches(marker, want):
        return root
    if root.is_dir() and any(p.suffix.lower() == ".wav" for p in root.rglob("*")):
        raise DataError(f"'{root}' already holds .wav files but no matching synthetic-snore marker ({DONE}); "
                        f"synthetic-snore will not write into it (remove it or pick another --data-root)")
    generate(root, **params)
    marker.write_text(json.dumps(want) + "\n")
    return root


def synthetic_root(cache_dir: str | Path | None = None, **params) -> Path:
    """A generated set under ``cache_dir/synthetic-snore/<hash of layout + params>`` (generated once;
    ``cache_dir`` defaults to lt's cache root, ``$LT_CACHE_DIR`` or ``~/.cache/lt``)."""
    params = {**DEFAULTS, **{k: v for k, v in params.items() if v is not None}}
    return ensure_generated(Path(cache_dir or cache_root()) / "synthetic-snore"
                            / params_key({"layout": LAYOUT, **params}, 16), **params)


__all__ = ["generate", "ensure_generated", "synthetic_root", "snore_clip", "CLASS_FORMANTS", "CLASS_TILT", "DONE"]
