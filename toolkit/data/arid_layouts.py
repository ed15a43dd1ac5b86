"""Where an ARID release keeps its lists and clips: v1.0, v1.5 and the ARID1.1 challenge CSVs.

Xu et al., "ARID: A New Dataset for Recognizing Action in the Dark", arXiv 2006.03876; official repos
xuyu0010/ARID_v1 (v1.0 lists and loader) and xuyu0010/ARID_UG2_2.1 (ARID1.1 challenge lists). Read as
released, under ``--data-root`` (``ARID/`` or ``ARID/raw/``, or the release folder itself):

* **v1.0** (3,784 clips, 11 classes): ``list_cvt/ARID_split{k}_{train,test}.txt`` (k = 1, 2, 3),
  lines ``index<TAB>label<TAB>Class/Class_<g>_<n>.avi``, and ``list_cvt/mapping_table.txt``
  (``label<TAB>Class``). The official repo keeps them under ``ARID/raw/`` with the clips in
  ``raw/data/Class/`` (converted .avi) and flow in ``raw/flow/``; the released clips are .mp4 in
  ``clips_v1/Class/``. A listed ``.avi`` whose file is the released ``.mp4`` (or the other way
  round) is read from the file that exists.
* **v1.5** (5,572 clips): ``clips_v1.5/Class/*.mp4`` and ``list_cvt/split_{0,1,2}/split{j}_{train,test}.txt``
  in the v1.0 line format; ``--official-split k`` reads ``split_{k-1}`` (our mapping of 1..3 onto 0..2).
* **ARID1.1** (UG2+ 2021 track 2.1): ``list_cvt/ARID1.1_t1_train_pub.csv`` with ``VideoID,Video,ClassID``
  (``Video`` relative to ``train_data/``), ``list_cvt/mapping_table_t1.txt`` (ids 5..10, remapped here
  to 0..5 in id order) and a labelled test CSV (``ClassID`` column) such as
  ``ARID1.1_t1_validation_gt_pub.csv`` with ``Video`` relative to ``test_data/``. The public
  validation CSV has no ``ClassID``; that is an error (nothing to score against).

Finding no lists, or lists of two releases side by side, is one error naming what was looked for.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.errors import DataError, check

ARID_CLASSES = ("Drink", "Jump", "Pick", "Pour", "Push", "Run", "Sit", "Stand", "Turn", "Walk", "Wave")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov")
V10_DIRS = ("data", "clips_v1", "clips_v1/avi", "clips_v1/mpeg4", "clips", ".")
V15_DIRS = ("clips_v1.5", "clips_v1.5_avi", "clips", "data", ".")
CSV_COLUMNS = ("VideoID", "Video", "ClassID")


@dataclass
class AridLayout:
    """What one split of a release needs: label files, class names and the clip folders."""

    release: str                       # "v1.0", "v1.5" or "ARID1.1"
    base: Path                         # the folder holding list_cvt/ (or the lists themselves)
    lists: dict[str, Path]             # "train"/"test" -> list file
    classes: list[str]
    pairs: dict[str, list[tuple[int, str]]]  # part -> (label 0..C-1, path relative to video_dirs[part])
    video_dirs: dict[str, Path]
    flow_dir: Path
    info: dict = field(default_factory=dict)


def read_mapping(path: Path) -> dict[int, str]:
    """``mapping_table*.txt`` -> {label id: class name} (``label<TAB>Class`` lines)."""
    names: dict[int, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) < 2 or not parts[0].isdigit():
            raise DataError(f"{path}:{n}: expected 'label<TAB>Class', got '{line.strip()}'")
        names[int(parts[0])] = parts[1]
    check(names, f"{path} lists no classes", DataError)
    return names


def read_split(path: Path) -> list[tuple[int, str]]:
    """A v1.0/v1.5 list -> ``(label, relative video path)`` pairs (``index label Class/file`` lines)."""
    if not path.is_file():
        raise DataError(f"split file '{path}' does not exist")
    items = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.strip().split("\t") if "\t" in line else line.split()
        if len(parts) != 3 or not parts[1].strip().lstrip("-").isdigit():
            raise DataError(f"{path}:{n}: expected 'index<TAB>label<TAB>Class/file.avi', got '{line.strip()}'")
        items.append((int(parts[1]), parts[2].strip()))
    check(items, f"split file '{path}' lists no videos", DataError)
    return items


def read_challenge_csv(path: Path) -> list[tuple[int, str]]:
    """An ARID1.1 CSV (``VideoID,Video,ClassID``) -> ``(ClassID, Video)`` pairs."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    cols = list(rows[0]) if rows else []
    if "ClassID" not in cols or "Video" not in cols:
        raise DataError(f"'{path}' has columns {', '.join(cols) or 'none'}; a labelled ARID1.1 list needs "
                        f"{','.join(CSV_COLUMNS)} (the public validation list has no ClassID: nothing to score)")
    out = []
    for n, r in enumerate(rows, 2):
        label = (r["ClassID"] or "").strip()
        check(label.isdigit(), f"{path}:{n}: ClassID '{label}' is not a non-negative integer", DataError)
        out.append((int(label), r["Video"].strip()))
    check(out, f"'{path}' lists no videos", DataError)
    return out


def resolve_video(video_dir: Path, rel: str) -> Path | None:
    """The listed file; else the same name with another video extension (.avi list, .mp4 clips);
    else a folder of frames named like it without extension."""
    p = video_dir / rel
    if p.is_file():
        return p
    for ext in VIDEO_EXTENSIONS:
        q = p.with_suffix(ext)
        if q.is_file():
            return q
    folder = p.with_suffix("")
    return folder if folder.is_dir() else None


def _pick_dir(bases: list[Path], names: tuple[str, ...], pairs: list[tuple[int, str]]) -> Path:
    """The first candidate folder in which some listed clip resolves (else the first existing one)."""
    cands = [b / n for b in bases for n in names if (b / n).is_dir()]
    probe = [rel for _, rel in pairs[:: max(1, len(pairs) // 20)]]
    for d in cands:
        if any(resolve_video(d, rel) is not None for rel in probe):
            return d
    return cands[0] if cands else bases[0]


def _bases(root: Path) -> list[Path]:
    """``root`` and, for the official repo's ``ARID/`` root, ``ARID/raw``."""
    return [root] + ([root / "raw"] if (root / "raw").is_dir() else [])


def _list_dirs(root: Path) -> list[Path]:
    return [d for b in _bases(root) for d in (b / "list_cvt", b) if d.is_dir()]


def _found(root: Path, split: int) -> dict[str, tuple[Path, dict[str, Path]]]:
    """Releases whose lists exist for ``split``: name -> (list dir, {part: file})."""
    j = split - 1
    shapes = {"v1.0": lambda d: {p: d / f"ARID_split{split}_{p}.txt" for p in ("train", "test")},
              "v1.5": lambda d: {p: d / f"split_{j}" / f"split{j}_{p}.txt" for p in ("train", "test")}}
    found: dict[str, tuple[Path, dict[str, Path]]] = {}
    for d in _list_dirs(root):
        for release, shape in shapes.items():
            files = shape(d)
            if release not in found and all(f.is_file() for f in files.values()):
                found[release] = (d, files)
        train = sorted(d.glob("ARID1.1*train*.csv"))
        if "ARID1.1" not in found and train:
            tests = [f for f in sorted(d.glob("ARID1.1*.csv")) if f not in train]
            found["ARID1.1"] = (d, {"train": train[0], "test": _labelled(tests, d)})
    return found


def _labelled(tests: list[Path], d: Path) -> Path:
    with_ids = [f for f in tests if "ClassID" in (f.open(encoding="utf-8-sig").readline())]
    if with_ids:
        return with_ids[0]
    if tests:
        read_challenge_csv(tests[0])  # raises: no ClassID
    raise DataError(f"'{d}' holds an ARID1.1 train CSV but no labelled test CSV (VideoID,Video,ClassID)")


def _has_clips(root: Path) -> bool:
    """Any video file up to three levels below the root or its raw/ (Class/clip, clips_v1/Class/clip)."""
    return any(p.suffix.lower() in VIDEO_EXTENSIONS for b in _bases(root) for depth in ("*", "*/*", "*/*/*")
               for p in b.glob(depth))


def _classes(lists_dir: Path, release: str, labels: set[int]) -> tuple[list[str], dict[int, int]]:
    """Class names and the label remap (identity unless the ids are not 0..C-1, as in ARID1.1)."""
    names = "mapping_table_t1.txt" if release == "ARID1.1" else "mapping_table.txt"
    table = next((d / names for d in (lists_dir, lists_dir.parent) if (d / names).is_file()), None)
    mapping = read_mapping(table) if table else dict(enumerate(ARID_CLASSES))
    unknown = sorted(labels - set(mapping))
    check(not unknown, f"label(s) {unknown} are not in {table or 'the 11 ARID classes'}", DataError)
    ids = sorted(mapping)
    return [mapping[i] for i in ids], {i: k for k, i in enumerate(ids)}


def find_layout(root: Path, split: int) -> AridLayout:
    """Identify the release under ``root`` and read split ``split``'s lists."""
    check(split in (1, 2, 3), f"--official-split must be 1, 2 or 3 (got {split})")
    if not root.is_dir():
        raise DataError(f"--data-root '{root}' is not a directory (expected an ARID release)")
    found = _found(root, split)
    if len(found) > 1:
        raise DataError(f"--data-root '{root}' holds the lists of {' and '.join(found)} side by side "
                        f"({', '.join(str(f) for _, fs in found.values() for f in fs.values())}); "
                        "keep one release per root")
    if not found:
        what = "clips but no split lists" if _has_clips(root) else "no ARID split lists"
        raise DataError(f"--data-root '{root}' holds {what}: expected list_cvt/ARID_split{split}_{{train,test}}.txt "
                        f"(v1.0), list_cvt/split_{split - 1}/split{split - 1}_{{train,test}}.txt (v1.5) or "
                        f"list_cvt/ARID1.1_t1_train_pub.csv (ARID1.1), under the root or its raw/")
    (release, (lists_dir, files)), = found.items()
    check(release != "ARID1.1" or split == 1, f"ARID1.1 has one split; --official-split must be 1 (got {split})")
    read = read_challenge_csv if release == "ARID1.1" else read_split
    raw = {part: read(f) for part, f in files.items()}
    classes, remap = _classes(lists_dir, release, {y for v in raw.values() for y, _ in v})
    pairs = {part: [(remap[y], rel) for y, rel in v] for part, v in raw.items()}
    base = lists_dir.parent if lists_dir.name == "list_cvt" else lists_dir
    bases = [base] + [b for b in _bases(root) if b != base]
    if release == "ARID1.1":
        dirs = {"train": _pick_dir(bases, ("train_data", "."), pairs["train"]),
                "test": _pick_dir(bases, ("test_data", "validation_data", "."), pairs["test"])}
    else:
        names = V15_DIRS if release == "v1.5" else V10_DIRS
        dirs = {part: _pick_dir(bases, names, pairs[part]) for part in ("train", "test")}
    flow = next((b / "flow" for b in bases if (b / "flow").is_dir()), base / "flow")
    info = {"release": release, "lists": {p: str(f) for p, f in files.items()}}
    if any(k != i for i, k in remap.items()):
        info["label_ids"] = sorted(remap)
    return AridLayout(release, base, files, classes, pairs, dirs, flow, info)


__all__ = ["ARID_CLASSES", "AridLayout", "find_layout", "read_challenge_csv", "read_mapping", "read_split",
           "resolve_video"]
