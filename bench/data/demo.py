"""The built-in synthetic ChestX-ray14: real NIH label rows, procedurally rendered images.

Patients (with their real label vectors, follow-up numbering, age, sex and view) are sampled
from torchxrayvision's copy of `Data_Entry_2017_v2020.csv`, over-sampling rare findings so that
every class has enough positives in every test set of every split protocol while the class
frequency order stays NIH's. Images come from `bench.data.render`. The result is a complete
NIH-layout root (plus `DEMO.json`), so every code path that reads real data runs on it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
from PIL import Image
from threadpoolctl import threadpool_limits

from bench.atomic import writable
from bench.config import cache_dir
from bench.data.cache import default_workers, parallel_map
from bench.data.nih import DEMO_MARKER, TXV_LABELS, demo_meta, txv_data_dir
from bench.data.render import Box, render_chest
from bench.errors import BenchError
from bench.labels import LABELS, NUM_CLASSES, parse_finding_labels
from bench.ui.console import notice

GENERATOR = "cxr-bench-demo"
VERSION = 2
DEMO_DIRNAME = f"demo-v{VERSION}"
MIN_SIZE, MAX_SIZE = 32, 1024
PNG_COMPRESS_LEVEL = 2  # zlib 2: 2.4 ms an image at 256 px against 5.8 ms at level 4, files 17% larger
RENDER_CHUNK = 64  # images per task of the rendering pool: few round trips, an even spread

DATA_ENTRY = "Data_Entry_2017_v2020.csv"
BBOX_FILE = "BBox_List_2017.csv"
BBOX_HEADER = "Image Index,Finding Label,Bbox [x,y,w,h],,,"
# NIH's box file spells Infiltration "Infiltrate".
BBOX_SPELLING = {"Infiltration": "Infiltrate"}

# Classes from rarest to commonest (NIH's frequency order) and the positives each should at
# least reach. Hernia >= 100 leaves >= 15 per test set of any patient-wise 5-fold or 20% split.
RARE_TO_COMMON: tuple[str, ...] = (
    "Hernia",
    "Pneumonia",
    "Fibrosis",
    "Edema",
    "Emphysema",
    "Cardiomegaly",
    "Pleural_Thickening",
    "Consolidation",
    "Pneumothorax",
    "Mass",
    "Nodule",
    "Atelectasis",
    "Effusion",
    "Infiltration",
)
MIN_POSITIVES: dict[str, int] = {
    "Hernia": 120,
    "Pneumonia": 135,
    "Fibrosis": 150,
    "Edema": 165,
    "Emphysema": 180,
    "Cardiomegaly": 200,
    "Pleural_Thickening": 225,
    "Consolidation": 255,
    "Pneumothorax": 290,
    "Mass": 330,
    "Nodule": 375,
    "Atelectasis": 450,
    "Effusion": 530,
    "Infiltration": 650,
}
ORDER_GAP = 8  # each class has at least this many more positives than the next rarer one
MAX_IMAGES_PER_PATIENT = 8  # whole patients only; long follow-up series make folds lumpy
NO_FINDING_SHARE = 0.40  # NIH: 54% of images; a bit lower keeps the demo small but rich

OFFICIAL_FRACTIONS = {"train_val": 0.77, "test": 0.23}
WENG_FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}
# The full-length set's lists take the real lists' sizes (docs/domain.md section 3), not their patients.
FULL_OFFICIAL_FRACTIONS = {"train_val": 86_524 / 112_120, "test": 25_596 / 112_120}
FULL_WENG_FRACTIONS = {"train": 78_468 / 112_120, "val": 11_219 / 112_120, "test": 22_433 / 112_120}


def source_data_entry() -> Path:
    """torchxrayvision's wheel copy of NIH's `Data_Entry_2017_v2020.csv.gz` (the real label rows)."""
    folder = txv_data_dir()
    if folder is None or not (folder / TXV_LABELS).is_file():
        raise BenchError(
            "cannot find torchxrayvision's copy of Data_Entry_2017_v2020.csv.gz (the demo's label source)",
            hint="install it: pip install torchxrayvision",
        )
    return folder / TXV_LABELS


@dataclass(frozen=True)
class DemoPlan:
    """What the demo holds, before any image is rendered.

    `rows` are the sampled NIH rows verbatim (strings, NIH columns, sorted by image id);
    `labels` is their (n, 14) label matrix; `official` and `weng` give each image's split.
    """

    seed: int
    rows: pd.DataFrame
    labels: np.ndarray
    official: np.ndarray  # "train_val" | "test" per image
    weng: np.ndarray  # "train" | "val" | "test" per image
    full: bool = False  # every NIH row, not the sample

    @property
    def image_ids(self) -> list[str]:
        return self.rows["Image Index"].tolist()

    def image_seed(self, i: int) -> np.random.SeedSequence:
        """The seed of image i, from its id (PPPPPPPP_FFF.png), so it does not depend on the sample."""
        image_id = cast(
            str, self.rows["Image Index"].iat[i]
        )  # cast: a column of names (pandas types cells as any scalar)
        return np.random.SeedSequence([self.seed, int(image_id[:8]), int(image_id[9:12])])


def _read_source() -> tuple[pd.DataFrame, np.ndarray]:
    rows = pd.read_csv(source_data_entry(), dtype=str, keep_default_na=False)
    labels = np.zeros((len(rows), NUM_CLASSES), dtype=np.uint8)
    column = {name: k for k, name in enumerate(LABELS)}
    for i, text in enumerate(rows["Finding Labels"]):
        for name in parse_finding_labels(text):
            labels[i, column[name]] = 1
    return rows, labels


def _select_patients(patient: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of the rows of the sampled patients.

    Classes are filled from the rarest up, each only with patients that have none of the rarer
    classes, so filling a class never changes a rarer one and the frequency order holds.
    """
    patients, inverse = np.unique(patient, return_inverse=True)
    per_patient = np.zeros((len(patients), NUM_CLASSES), dtype=np.int64)
    np.add.at(per_patient, inverse, labels)
    n_images = np.bincount(inverse)
    eligible = n_images <= MAX_IMAGES_PER_PATIENT
    chosen = np.zeros(len(patients), dtype=bool)
    counts = np.zeros(NUM_CLASSES, dtype=np.int64)
    rarer = np.zeros(NUM_CLASSES, dtype=bool)
    previous = 0
    for name in RARE_TO_COMMON:
        k = LABELS.index(name)
        target = max(MIN_POSITIVES[name], previous + ORDER_GAP)
        pool = np.flatnonzero(eligible & ~chosen & (per_patient[:, k] > 0) & ~(per_patient[:, rarer] > 0).any(axis=1))
        for p in rng.permutation(pool):
            if counts[k] >= target:
                break
            chosen[p] = True
            counts += per_patient[p]
        if counts[k] < target:  # cannot happen with NIH's counts; guards a changed source
            raise RuntimeError(f"demo sampling: only {counts[k]} {name} positives available")
        previous = counts[k]
        rarer[k] = True
    # Patients with no finding at all, up to a realistic share of No Finding images.
    no_finding_rows = np.bincount(inverse, weights=labels.sum(axis=1) == 0, minlength=len(patients))
    healthy = np.flatnonzero(eligible & ~chosen & (per_patient.sum(axis=1) == 0))
    n_total = n_images[chosen].sum()
    n_healthy = no_finding_rows[chosen].sum()
    for p in rng.permutation(healthy):
        if n_healthy >= NO_FINDING_SHARE * n_total:
            break
        chosen[p] = True
        n_total += n_images[p]
        n_healthy += n_images[p]
    return chosen[inverse]


def _stratified_assign(
    patient: np.ndarray, labels: np.ndarray, fractions: dict[str, float], rng: np.random.Generator
) -> np.ndarray:
    """Patient-wise split with every class spread in proportion (greedy iterative stratification).

    Patients are placed rarest-finding first (biggest first), each into the split that lacks
    most of its rarest finding, then of its other findings and of images, relative to its share.
    """
    names = list(fractions)
    share = np.array([fractions[n] for n in names])
    patients, inverse = np.unique(patient, return_inverse=True)
    per_patient = np.zeros((len(patients), NUM_CLASSES), dtype=np.float64)
    np.add.at(per_patient, inverse, labels)
    n_images = np.bincount(inverse).astype(np.float64)
    totals = np.maximum(per_patient.sum(axis=0), 1.0)
    rank = np.array([RARE_TO_COMMON.index(name) for name in LABELS])
    rarest = np.where(per_patient > 0, rank, NUM_CLASSES).min(axis=1)
    order = np.lexsort((rng.random(len(patients)), -n_images, rarest))
    have = np.zeros((len(names), NUM_CLASSES))
    have_images = np.zeros(len(names))
    split_of = np.empty(len(patients), dtype=np.int64)
    for p in order:
        # What each split still lacks, as a fraction of what it should get in the end.
        need = 1 - have / (share[:, None] * totals)
        need_images = 1 - have_images / (share * n_images.sum())
        score = need_images
        if rarest[p] < NUM_CLASSES:
            k = LABELS.index(RARE_TO_COMMON[rarest[p]])
            score = 10 * need[:, k] + need @ (per_patient[p] > 0) / (per_patient[p] > 0).sum() + need_images
        s = int(np.argmax(score))
        split_of[p] = s
        have[s] += per_patient[p]
        have_images[s] += n_images[p]
    return np.array(names, dtype=object)[split_of[inverse]]


def plan_demo(seed: int = 0, *, full: bool = False) -> DemoPlan:
    """Sample the demo's patients (or, `full`, keep every NIH row) and assign its official and
    weng splits (no images)."""
    rows, labels = _read_source()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    patient = rows["Patient ID"].astype(np.int64).to_numpy()
    if not full:
        keep = _select_patients(patient, labels, rng)
        rows, labels, patient = rows[keep], labels[keep], patient[keep]
    order = np.argsort(rows["Image Index"].to_numpy(), kind="stable")
    rows, labels, patient = rows.iloc[order].reset_index(drop=True), labels[order], patient[order]
    official = _stratified_assign(patient, labels, FULL_OFFICIAL_FRACTIONS if full else OFFICIAL_FRACTIONS, rng)
    weng = _stratified_assign(patient, labels, FULL_WENG_FRACTIONS if full else WENG_FRACTIONS, rng)
    return DemoPlan(seed=seed, rows=rows, labels=labels, official=official, weng=weng, full=full)


def render_demo_image(plan: DemoPlan, i: int, size: int) -> tuple[bytes, tuple[Box, ...]]:
    """PNG bytes and true boxes of the plan's image i at `size` (deterministic)."""
    findings = [LABELS[k] for k in np.flatnonzero(plan.labels[i])]
    rendered = render_chest(
        findings,
        size=size,
        rng=np.random.default_rng(plan.image_seed(i)),
        view=cast(str, plan.rows["View Position"].iat[i]),  # cast: text columns (pandas types cells as any scalar)
        sex=cast(str, plan.rows["Patient Gender"].iat[i]),
    )
    return encode_png(rendered.image), rendered.boxes


def encode_png(image: np.ndarray) -> bytes:
    """Grey 8-bit PNG with fixed settings and no metadata (so equal pixels give equal bytes)."""
    buffer = io.BytesIO()
    Image.fromarray(image, mode="L").save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def _write_text(path: Path, lines: list[str], *, final_newline: bool = True) -> None:
    text = "\n".join(lines) + ("\n" if final_newline and lines else "")
    path.write_text(text, encoding="utf-8", newline="\n")


def _write_lists(root: Path, plan: DemoPlan) -> None:
    """NIH's official lists and arnoweng's (name + 14 labels; no final newline on val/test)."""
    ids = np.array(plan.image_ids, dtype=object)
    for name in ("train_val", "test"):
        _write_text(root / f"{name}_list.txt", list(ids[plan.official == name]))
    (root / "weng").mkdir()
    for name in ("train", "val", "test"):
        keep = np.flatnonzero(plan.weng == name)
        lines = [f"{ids[i]} " + " ".join(map(str, plan.labels[i])) for i in keep]
        _write_text(root / "weng" / f"{name}_list.txt", lines, final_newline=name == "train")


def _box_line(image_id: str, box: Box) -> str:
    label = BBOX_SPELLING.get(box.label, box.label)
    return f"{image_id},{label},{box.x:.3f},{box.y:.3f},{box.w:.3f},{box.h:.3f}"


def _check_request(out: Path, size: int) -> None:
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise BenchError(f"demo image size {size} is out of range", hint=f"use {MIN_SIZE} to {MAX_SIZE} (default 256)")
    if out.exists() and not out.is_dir():
        raise BenchError(f"{out} exists and is not a directory", hint="choose another --out")
    if out.is_dir() and any(out.iterdir()) and not is_demo_root(out):
        raise BenchError(
            f"{out} is not empty and does not hold a cxr-bench demo dataset; refusing to overwrite it",
            hint="choose an empty or new --out directory",
        )


def is_demo_root(root: Path) -> bool:
    """Whether `root` holds a complete demo written by this generator."""
    meta = demo_meta(root)
    return meta is not None and meta.get("generator") == GENERATOR


_PLAN: DemoPlan | None = None  # the plan of the images a rendering worker draws: set by _set_plan


def _set_plan(plan: DemoPlan) -> None:
    global _PLAN
    _PLAN = plan


def _render_chunk(task: tuple[int, int, int]) -> list[tuple[int, bytes, tuple[Box, ...]]]:
    start, stop, size = task
    if _PLAN is None:
        raise RuntimeError("_render_chunk runs where _set_plan has set the demo plan")
    with threadpool_limits(limits=1):  # small matrix products: BLAS threads only add overhead
        return [(i, *render_demo_image(_PLAN, i, size)) for i in range(start, stop)]


def render_images(
    plan: DemoPlan, n: int, size: int, workers: int, *, chunk: int = RENDER_CHUNK
) -> Iterator[list[tuple[int, bytes, tuple[Box, ...]]]]:
    """The plan's first `n` images at `size` as (index, PNG bytes, boxes), `chunk` at a time, as
    they finish: each image depends on its own seed only, so any number of workers gives the same bytes."""
    tasks = [(start, min(start + chunk, n), size) for start in range(0, n, chunk)]
    with contextlib.closing(
        parallel_map(_render_chunk, tasks, workers, initializer=_set_plan, initargs=(plan,))
    ) as chunks:
        yield from chunks


def _write_demo(root: Path, plan: DemoPlan, size: int, workers: int, advance: Callable[[int], None]) -> None:
    images = root / "images"
    images.mkdir()
    ids = plan.image_ids
    boxes: dict[int, tuple[Box, ...]] = {}
    for chunk in render_images(plan, len(ids), size, workers):
        for i, png, found in chunk:
            (images / ids[i]).write_bytes(png)
            boxes[i] = found
        advance(len(chunk))
    box_lines = [BBOX_HEADER] + [_box_line(ids[i], box) for i in range(len(ids)) for box in boxes[i]]
    plan.rows.to_csv(root / DATA_ENTRY, index=False, lineterminator="\n")
    _write_text(root / BBOX_FILE, box_lines)
    _write_lists(root, plan)
    write_demo_meta(root, seed=plan.seed, size=size, images=len(plan.rows), **({"full": True} if plan.full else {}))


def write_demo_meta(root: Path, **meta) -> None:
    """DEMO.json: this generator and version, then `meta` (seed, size, images, ...)."""
    meta = {"generator": GENERATOR, "version": VERSION, **meta}
    (root / DEMO_MARKER).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def generate_demo(
    out: Path | str,
    *,
    seed: int = 0,
    size: int = 256,
    progress: bool = True,
    workers: int | None = None,
    full: bool = False,
) -> Path:
    """Write the demo dataset to `out` and return it, rendered by `workers` processes (default:
    as many as the image cache uses; 1 renders in this process). `full` renders every one of
    NIH's 112,120 rows instead of the sample: a real-length dataset, for throughput at scale.

    The files are written to a temporary sibling directory and renamed into place, so an
    interrupted generation never looks complete. An existing demo at `out` is replaced; any
    other non-empty directory is refused.
    """
    from bench.ui.progress import progress_bar

    out = Path(out).expanduser().absolute()
    _check_request(out, size)
    plan = plan_demo(seed, full=full)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        with progress_bar("rendering demo images", len(plan.rows), enabled=progress) as bar:
            _write_demo(tmp, plan, size, default_workers() if workers is None else workers, bar.advance)
        _move_into_place(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename `tmp` to `out`, replacing an empty directory or another demo at `out`.

    A demo already there with the same DEMO.json is byte-identical (generation is
    deterministic) and is kept, so concurrent first uses do not pull it from under each other.
    """
    if is_demo_root(out) and (out / DEMO_MARKER).read_bytes() == (tmp / DEMO_MARKER).read_bytes():
        return
    old = None
    if out.exists():
        old = tmp.with_name(f"{tmp.name}-old")
        os.rename(out, old)
    try:
        os.rename(tmp, out)
    except OSError:
        if old is not None:  # put the previous one back rather than leave nothing
            os.rename(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def ensure_demo() -> Path:
    """The cached demo dataset (`cache_dir()/demo-vN`), generated on first use."""
    root = cache_dir() / DEMO_DIRNAME
    if is_demo_root(root):
        return root
    hint = "set CXR_BENCH_CACHE to a writable folder, or pass --data with a dataset root"
    existing = next(p for p in (root, *root.parents) if p.exists())
    if not writable(existing):
        raise BenchError(f"cannot write the demo dataset to {root}: {existing} is read-only", hint=hint)
    notice(f"Generating the built-in synthetic demo dataset in {root} (once)")
    try:
        return generate_demo(root, progress=True)
    except OSError as exc:
        if is_demo_root(root):  # another process finished it first
            return root
        raise BenchError(f"cannot write the demo dataset to {root} ({exc.strerror or exc})", hint=hint) from None
