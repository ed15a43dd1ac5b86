"""Counts each real-layout loader reads from the fixtures in ``tests/fixtures`` (issue 12, "Measured").

Writes every fixture into a temp dir, loads it the way the commands do (``get_dataset`` /
``load_image_set``), and prints one row per layout: what the fixture holds, what the loader read,
and what the real release documents. ``python -m benchmarks.data_layouts [--format json]``
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fixtures.images import nips_dev  # noqa: E402
from fixtures.oltr import oltr  # noqa: E402
from fixtures.video import arid11, arid_v10, arid_v15  # noqa: E402

SMALL = {"size": 16, "frames": 4, "views": 1}
RELEASE = {"nips2017": "1,000 images (dev set)", "arid v1.0": "3,784 clips, 11 classes, 3 splits",
           "arid v1.5": "5,572 clips (as quoted in issue 12)", "arid1.1": "train CSV + unlabelled validation CSV",
           "imagenet-lt": "115,846 / 20,000 / 50,000 images, 1,000 classes",
           "places-lt": "62,500 / 7,300 / 36,500 images, 365 classes"}


def _video_row(name: str, root: Path, written: int, split: int = 1) -> dict:
    from toolkit.data import get_dataset

    b = get_dataset("arid", root=str(root), split=split, **SMALL)
    return {"layout": name, "fixture": f"{written} clips", "read": f"{len(b.train)} train + {len(b.test)} test "
            f"videos, {b.num_classes} classes ({b.info['release']})", "release": RELEASE[name]}


def rows(tmp: Path) -> list[dict]:
    from toolkit.data import get_dataset
    from toolkit.data.imagesets import load_image_set

    out = []
    for csv_name in ("dev_dataset.csv", "images.csv"):
        nips_dev(tmp / csv_name, n=8, csv_name=csv_name)
        s = load_image_set(str(tmp / csv_name))
        out.append({"layout": "nips2017", "fixture": f"8 images, {csv_name}",
                    "read": f"{len(s)} images, {len(set(s.labels))} distinct labels", "release": RELEASE["nips2017"]})
    out.append(_video_row("arid v1.0", tmp / "v10" / "ARID", len(arid_v10(tmp / "v10" / "ARID"))))
    out.append(_video_row("arid v1.0", tmp / "v10mp4", len(arid_v10(tmp / "v10mp4", clips_ext=".mp4",
                                                                     layout="release"))))
    out[-1]["fixture"] += " (.mp4, clips_v1/)"
    out.append(_video_row("arid v1.5", tmp / "v15", len(arid_v15(tmp / "v15")), split=2))
    c = arid11(tmp / "a11")
    out.append(_video_row("arid1.1", tmp / "a11", c["train"] + c["test"]))
    for name, ds in (("imagenet-lt", "ImageNet_LT"), ("places-lt", "Places_LT")):
        written = oltr(tmp / ds, ds)
        b = get_dataset(name, root=str(tmp / ds), image_size=8)
        sizes = b.info["sizes"]
        out.append({"layout": name, "fixture": " / ".join(str(written[s]) for s in ("train", "val", "test"))
                    + f" images in data/{ds}/", "read": " / ".join(str(sizes[s]) for s in ("train", "val", "test"))
                    + f" images, {b.num_classes} classes", "release": RELEASE[name]})
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        table = rows(Path(tmp))
    if "--format" in sys.argv and sys.argv[-1] == "json":
        print(json.dumps(table, indent=1))
        return
    for r in table:
        print(f"{r['layout']:12s} | {r['fixture']:34s} | {r['read']:48s} | {r['release']}")


if __name__ == "__main__":
    main()
