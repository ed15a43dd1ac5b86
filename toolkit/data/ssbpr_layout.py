"""SSBPR audio files: the released layout, CSV manifests, and one validated clip reader.

Dataset: Xiao et al., "A Snoring Sound Dataset for Body Position Recognition: Collection,
Annotation, and Analysis", INTERSPEECH 2023, arXiv 2307.13346. Six labels (see ``CLASS_NAMES``).

Layouts read under ``--data-root``:

* released: ``female/`` and ``male/`` folders (searched recursively: the OPERA benchmark reads
  ``SSBPR/*/*/*.wav``, one folder level below them) of ``A-B-C.wav`` files, where ``A-B``
  identifies the patient and ``C`` is the label 0-5 (OPERA's ``datasets/SSBPR/README.md``). The
  subject id is ``<female|male>/A-B``. A file whose name does not follow ``A-B-C`` (or whose
  label is not 0-5) is listed and skipped like a corrupt file (``skipped.csv``), not fatal.
* manifest: a CSV file (or a directory holding ``manifest.csv``) with a header naming the columns
  ``path,label[,subject]`` in any order; relative paths are relative to the CSV's folder.

Clips are read with soundfile (librosa fallback), mixed to mono, resampled to ``sample_rate``
(default 16000 Hz, our choice), silence-trimmed (``top_db`` 60 dB, librosa's default) and padded by
repetition / cut to ``duration`` seconds (default 2 s, our choice). Bad files (unreadable, empty,
NaN/inf, silent) raise :class:`BadClip`, which callers list and skip.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..engine.errors import DataError, LtError, check

CLASS_NAMES = ("supine", "supine-left-head", "supine-right-head", "left-lateral", "right-lateral", "prone")
NAME_RE = re.compile(r"^(?P<a>[^-]+)-(?P<b>[^-]+)-(?P<c>[^-]+)$")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
SILENCE_PEAK = 1e-5  # peak amplitude below which a clip counts as silent (-100 dBFS)
MIN_SR, MAX_SR = 1000, 192000
DATASETS = ("ssbpr", "synthetic-snore")


class BadClip(Exception):
    """A file that cannot be used (the message says why); skipped and listed, never fatal alone."""


@dataclass(frozen=True)
class Item:
    """One labelled file: ``path``, ``label`` (0-5), ``subject`` ('' when unknown)."""

    path: str
    label: int
    subject: str = ""


def check_audio_params(sample_rate: int, duration: float) -> None:
    """Bad ``--sample-rate`` / ``--duration`` are one-line user errors."""
    check(duration > 0 and np.isfinite(duration), f"--duration must be > 0 seconds (got {duration})")
    check(MIN_SR <= int(sample_rate) <= MAX_SR,
          f"--sample-rate {sample_rate} Hz cannot be resampled to; use {MIN_SR}..{MAX_SR} Hz (default 16000)")


def parse_name(path: str | Path) -> tuple[str, int]:
    """``female/12-3-4.wav`` -> (``female/12-3``, 4). A name that does not parse or a label outside
    0-5 is a :class:`DataError` naming the file."""
    p = Path(path)
    m = NAME_RE.match(p.stem)
    if m is None:
        raise DataError(f"file name '{p}' does not parse as A-B-C.wav (patient A-B, label C in 0-5)")
    label = _label(m.group("c"), p)
    folder = next((part for part in reversed(p.parts[:-1]) if part in ("female", "male")), p.parent.name)
    return f"{folder}/{m.group('a')}-{m.group('b')}", label


def _label(text: str, where: Path | str) -> int:
    if not re.fullmatch(r"[0-9]+", text):  # int() would take '0_015' as 15
        raise DataError(f"'{where}': label '{text}' is not an integer 0-5")
    label = int(text)
    if not 0 <= label < len(CLASS_NAMES):
        raise DataError(f"'{where}': label {label} is outside 0-5 ({', '.join(CLASS_NAMES)})")
    return label


def _released(files: list[Path], skipped: list[dict] | None) -> list[Item]:
    items = []
    for p in files:
        try:
            subject, label = parse_name(p)
        except DataError as e:
            if skipped is None:
                raise
            why = str(e).replace(f"'{p}': ", "").replace(f"file name '{p}' ", "name ")
            skipped.append({"path": str(p), "label": "", "reason": f"file name not A-B-C.wav: {why}"})
            continue
        items.append(Item(str(p), label, subject))
    return items


def find_items(root: str | Path, skipped: list[dict] | None = None) -> tuple[list[Item], str]:
    """All labelled files under ``root`` and the layout found (``released`` or ``manifest``).

    ``skipped``: if a list, released-layout files whose names do not parse are appended to it
    (``path``, ``label`` '', ``reason``) and left out; without it such a name is a DataError."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"--data-root '{root}' does not exist")
    if root.is_file():
        return read_manifest(root), "manifest"
    folders = [root / f for f in ("female", "male") if (root / f).is_dir()]
    if folders:
        files = sorted(p for f in folders for p in f.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
        if not files:
            raise DataError(f"--data-root '{root}' has female/ or male/ folders but no audio files in them")
        return _released(files, skipped), "released"
    if (root / "manifest.csv").is_file():
        return read_manifest(root / "manifest.csv"), "manifest"
    raise DataError(f"--data-root '{root}' has neither the released layout (female/ and male/ folders of "
                    f"A-B-C.wav files) nor a CSV manifest (a .csv file or manifest.csv with columns "
                    f"path,label[,subject])")


def read_manifest(path: str | Path) -> list[Item]:
    """Rows of a ``path,label[,subject]`` CSV (header required); relative paths from its folder."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"manifest '{path}' is unreadable: {e}") from e
    cols = set(rows[0]) if rows else set()
    if not {"path", "label"} <= cols:
        raise DataError(f"manifest '{path}' needs a header with columns path,label[,subject] (got {sorted(cols)})")
    items = []
    for i, r in enumerate(rows, start=2):
        p = Path(r["path"].strip())
        p = p if p.is_absolute() else path.parent / p
        items.append(Item(str(p), _label(r["label"].strip(), f"{path}:{i}"), (r.get("subject") or "").strip()))
    return items


def check_source(dataset: str, data_root: str | None, subjects: int | None = None, clips: int | None = None) -> None:
    """The dataset name and the flags that go with it (checked before anything is read or made)."""
    from ..engine.registry import unknown_name_message

    check(dataset in DATASETS, unknown_name_message("dataset", dataset, DATASETS))
    if dataset == "ssbpr":
        if data_root is None:
            raise DataError("--dataset ssbpr needs --data-root (female/ and male/ folders of A-B-C.wav, or a CSV "
                            "manifest); use --dataset synthetic-snore for generated data")
        if subjects is not None or clips is not None:
            raise LtError("--subjects/--clips only apply to --dataset synthetic-snore")


def parse_drop(drop: Sequence[int] | None) -> list[int]:
    drop = sorted(set(int(c) for c in drop or ()))
    for c in drop:
        check(0 <= c < len(CLASS_NAMES), f"--drop-classes {c}: labels are 0-5 ({', '.join(CLASS_NAMES)})")
    check(len(drop) <= len(CLASS_NAMES) - 2, "--drop-classes must leave at least two classes")
    return drop


def read_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Decode ``path`` to mono float32 at ``sample_rate``; raises :class:`BadClip` with the reason."""
    import soundfile as sf

    try:
        y, sr = sf.read(str(path), dtype="float32", always_2d=True)
        y = y.mean(axis=1)
    except Exception as first:  # noqa: BLE001 - any decoder failure: try librosa, then give up
        try:
            import warnings

            import librosa

            with warnings.catch_warnings():  # librosa's audioread fallback warns of its deprecation
                warnings.simplefilter("ignore")
                y, sr = librosa.load(str(path), sr=None, mono=True)
        except Exception:  # noqa: BLE001
            raise BadClip(f"unreadable ({type(first).__name__}: {str(first).splitlines()[0][:80]})") from None
    if y.size == 0:
        raise BadClip("empty (0 samples)")
    if not np.all(np.isfinite(y)):
        raise BadClip("contains NaN or infinite samples")
    if sr != sample_rate:
        import librosa

        y = librosa.resample(y, orig_sr=int(sr), target_sr=int(sample_rate))
    return np.ascontiguousarray(y, dtype=np.float32)


def fix_length(y: np.ndarray, n: int) -> np.ndarray:
    """Cut to ``n`` samples, or repeat the clip until it fills ``n`` (our choice over zero-padding)."""
    if y.size >= n:
        return y[:n]
    return np.tile(y, int(np.ceil(n / y.size)))[:n]


def load_clip(path: str | Path, sample_rate: int = 16000, duration: float = 2.0, top_db: float = 60.0) -> np.ndarray:
    """Read, validate, resample, trim silence and fix the length of one clip (float32, mono)."""
    import librosa

    y = read_audio(path, sample_rate)
    if float(np.max(np.abs(y))) < SILENCE_PEAK:
        raise BadClip(f"silent (peak below {SILENCE_PEAK:g})")
    trimmed, _ = librosa.effects.trim(y, top_db=top_db)
    if trimmed.size == 0:
        raise BadClip("silent after trimming")
    return fix_length(trimmed, int(round(duration * sample_rate)))


def subjects_required(items: list[Item]) -> None:
    """A subject-wise split needs every item's subject."""
    missing = [it.path for it in items if not it.subject]
    if missing:
        raise LtError(f"--cv subject needs a subject for every file; '{missing[0]}' has none "
                      f"(add a subject column to the manifest, or use --cv random)")
