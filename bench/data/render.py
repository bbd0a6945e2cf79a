"""Procedural frontal chest radiographs with a visual signature per finding, and its true box.

Everything is drawn as a density map (bright = dense) with vectorised numpy on small patches,
in "anatomy" coordinates (0..1 across a standard chest; the patient's right on the image's
left, as in a PA film). A per-image shift and scale maps anatomy to pixels, so the same code
renders any size. Findings are drawn large enough to survive downsampling to 64 px, with a
per-image strength so that some are faint.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

# Findings whose rendering yields a box (the 8 classes of NIH's BBox_List_2017.csv).
BOX_CLASSES: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
)
# Per class: signal strength of a clear case (1 = plainly visible) and the share of faint
# cases (a tenth to a third of that). Most findings are clear, so even a briefly trained
# network picks them up; the faint ones keep every class short of perfect separation.
STRENGTH: dict[str, float] = {
    "Atelectasis": 0.9,
    "Cardiomegaly": 1.0,
    "Effusion": 0.8,
    "Infiltration": 1.1,
    "Mass": 1.0,
    "Nodule": 1.2,
    "Pneumonia": 1.0,
    "Pneumothorax": 1.0,
    "Consolidation": 0.8,
    "Edema": 0.9,
    "Emphysema": 1.0,
    "Fibrosis": 1.1,
    "Pleural_Thickening": 1.1,
    "Hernia": 0.9,
}
FAINT_SHARE: dict[str, float] = {
    "Atelectasis": 0.2,
    "Cardiomegaly": 0.2,
    "Effusion": 0.15,
    "Infiltration": 0.25,
    "Mass": 0.2,
    "Nodule": 0.25,
    "Pneumonia": 0.25,
    "Pneumothorax": 0.2,
    "Consolidation": 0.15,
    "Edema": 0.15,
    "Emphysema": 0.2,
    "Fibrosis": 0.2,
    "Pleural_Thickening": 0.2,
    "Hernia": 0.15,
}
RIGHT, LEFT = 0, 1  # the patient's sides: image left, image right


@dataclass(frozen=True)
class Box:
    """A finding's true box in pixels of the rendered image (NIH's x, y, w, h)."""

    label: str
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Rendered:
    image: np.ndarray  # uint8 (size, size)
    boxes: tuple[Box, ...]


@dataclass(frozen=True)
class Lung:
    """A lung field: apex at cy - ay, base (the diaphragm dome) at cy + ay."""

    cx: float
    cy: float
    ax: float
    ay: float

    def r(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Implicit shape (< 1 inside): an ellipse narrowing towards the apex."""
        t = np.clip((Y - (self.cy - self.ay)) / (2 * self.ay), 0.0, 1.0)
        dx = (X - self.cx) / (self.ax * (0.68 + 0.42 * t))
        dy = (Y - self.cy) / self.ay
        return dx * dx + dy * dy

    def point(self, rng: np.random.Generator, lo: float, hi: float, margin: float = 0.7) -> tuple[float, float]:
        """A random point well inside the lung, between heights lo..hi (0 apex, 1 base)."""
        t = rng.uniform(lo, hi)
        y = self.cy - self.ay + 2 * self.ay * t
        half = self.ax * (0.68 + 0.42 * t) * np.sqrt(max(1 - ((y - self.cy) / self.ay) ** 2, 0.0)) * margin
        return self.cx + rng.uniform(-half, half), y


@dataclass(frozen=True)
class Anatomy:
    lungs: tuple[Lung, Lung]
    heart: tuple[float, float, float, float]  # cx, cy, ax, ay
    lung_air: float  # how dark the lungs are
    markings: float  # vascular markings' contrast
    heart_density: float = 0.0  # extra density of an enlarged heart (Cardiomegaly)
    collapsed: tuple[int, Lung, float] | None = None  # pneumothorax: side, collapsed lung, strength


@lru_cache(maxsize=32)
def _interp(size: int, n: int) -> np.ndarray:
    """(size, n) linear-interpolation matrix: U @ Z @ U.T upsamples an (n, n) grid smoothly."""
    t = (np.arange(size) + 0.5) / size * (n - 1)
    i = np.minimum(t.astype(int), n - 2)
    f = t - i
    u = np.zeros((size, n), dtype=np.float32)
    u[np.arange(size), i] = 1 - f
    u[np.arange(size), i + 1] = f
    return u


class Canvas:
    """A density map in anatomy coordinates, with patch helpers (numpy only, no pixel loops)."""

    def __init__(self, size: int, rng: np.random.Generator):
        self.size = size
        self.rng = rng
        self.scale = rng.uniform(0.92, 1.04)
        self.ox, self.oy = rng.normal(0, 0.015, 2)
        grid = (np.arange(size, dtype=np.float32) + 0.5) / size
        self.x = (grid - 0.5 - self.ox) / self.scale + 0.5  # anatomy x of each column
        self.y = (grid - 0.5 - self.oy) / self.scale + 0.5  # anatomy y of each row
        self.d = np.zeros((size, size), dtype=np.float32)

    def _pixel(self, u: float, offset: float) -> float:
        return ((u - 0.5) * self.scale + 0.5 + offset) * self.size

    def region(self, x0: float, y0: float, x1: float, y1: float):
        """Row/column slices of an anatomy rectangle (clipped) and its coordinates (Y column, X row)."""
        c0 = int(np.clip(np.floor(self._pixel(x0, self.ox)), 0, self.size))
        c1 = int(np.clip(np.ceil(self._pixel(x1, self.ox)), 0, self.size))
        r0 = int(np.clip(np.floor(self._pixel(y0, self.oy)), 0, self.size))
        r1 = int(np.clip(np.ceil(self._pixel(y1, self.oy)), 0, self.size))
        rows, cols = slice(r0, max(r1, r0)), slice(c0, max(c1, c0))
        return rows, cols, self.x[None, cols], self.y[rows, None]

    def add(self, x0: float, y0: float, x1: float, y1: float, draw) -> None:
        """Add draw(X, Y, rows, cols) to the density inside an anatomy rectangle."""
        rows, cols, X, Y = self.region(x0, y0, x1, y1)
        if X.size and Y.size:
            self.d[rows, cols] += draw(X, Y, rows, cols)

    def noise(self, n: int, rows: slice = slice(None), cols: slice = slice(None), rng=None) -> np.ndarray:
        """Smooth noise (about unit variance at grid nodes) with n nodes across the image."""
        u = _interp(self.size, n)
        z = (rng or self.rng).standard_normal((n, n), dtype=np.float32)
        return u[rows] @ z @ u[cols].T

    def box(self, label: str, x0: float, y0: float, x1: float, y1: float) -> Box:
        """The pixel box of an anatomy rectangle, clipped to the image."""
        px0 = float(np.clip(self._pixel(x0, self.ox), 0, self.size))
        px1 = float(np.clip(self._pixel(x1, self.ox), 0, self.size))
        py0 = float(np.clip(self._pixel(y0, self.oy), 0, self.size))
        py1 = float(np.clip(self._pixel(y1, self.oy), 0, self.size))
        return Box(label, px0, py0, max(px1 - px0, 1.0), max(py1 - py0, 1.0))


def _soft(r: np.ndarray, edge: float) -> np.ndarray:
    """1 inside (r < 1), 0 outside, with a linear ramp `edge` wide (in units of r)."""
    return np.clip((1 - r) / edge, 0.0, 1.0)


def _ellipse(X, Y, cx, cy, ax, ay) -> np.ndarray:
    dx, dy = (X - cx) / ax, (Y - cy) / ay
    return dx * dx + dy * dy


def _lung_mask(canvas: Canvas, lung: Lung, rows: slice, cols: slice) -> np.ndarray:
    return _soft(lung.r(canvas.x[None, cols], canvas.y[rows, None]), 0.12)


def _lung_bounds(lung: Lung, pad: float = 0.0) -> tuple[float, float, float, float]:
    half_width = 1.1 * lung.ax + pad
    return (lung.cx - half_width, lung.cy - lung.ay - pad, lung.cx + half_width, lung.cy + lung.ay + pad)


def _side(rng: np.random.Generator) -> int:
    return int(rng.integers(2))


# --- normal anatomy ---------------------------------------------------------------------------


def _anatomy(rng, findings: Collection[str], view: str, s: dict[str, float], finding_rng) -> Anatomy:
    """Sample a chest's geometry; Cardiomegaly, Emphysema, Atelectasis and Pneumothorax change it."""
    ay_r, ay_l = rng.normal(0.3, 0.012), rng.normal(0.29, 0.012)
    right = Lung(cx=rng.normal(0.3, 0.006), cy=0.45 + rng.normal(0, 0.006), ax=rng.normal(0.17, 0.006), ay=ay_r)
    left = Lung(cx=rng.normal(0.7, 0.006), cy=0.46 + rng.normal(0, 0.006), ax=rng.normal(0.165, 0.006), ay=ay_l)
    heart_ax = rng.normal(0.145, 0.009) * (1.05 if view == "AP" else 1.0)
    heart = [rng.normal(0.55, 0.006), rng.normal(0.655, 0.008), heart_ax, rng.normal(0.11, 0.006)]
    air, markings = rng.normal(0.28, 0.025), rng.normal(0.07, 0.01)
    heart_density = 0.0
    if "Emphysema" in findings:  # hyperinflated, hyperlucent lungs, flat diaphragm, narrow heart
        k = s["Emphysema"]
        right = replace(right, ay=right.ay * (1 + 0.12 * k), cy=right.cy + 0.03 * k, ax=right.ax * (1 + 0.05 * k))
        left = replace(left, ay=left.ay * (1 + 0.12 * k), cy=left.cy + 0.03 * k, ax=left.ax * (1 + 0.05 * k))
        heart[2] *= 1 - 0.1 * k
        air += 0.09 * k
        markings *= 1 - 0.5 * k
    if "Cardiomegaly" in findings:  # wider, reaching into the left lung, and denser: a dilated
        # heart is also thicker along the beam. The density (demo v2) puts a signature inside the
        # box, not only in the outline's proportions, which no CAM could point at.
        k = s["Cardiomegaly"]
        heart[2] *= 1 + 0.3 * k
        heart[3] *= 1 + 0.1 * k
        heart[0] += 0.015 * k
        heart_density = 0.12 * k
    if "Atelectasis" in findings:  # volume loss: the affected lung shrinks from below
        side = _side(finding_rng)
        lung = (right, left)[side]
        k = s["Atelectasis"]
        shrunk = replace(lung, ay=lung.ay * (1 - 0.07 * k), cy=lung.cy - lung.ay * 0.07 * k)
        right, left = (shrunk, left) if side == RIGHT else (right, shrunk)
    collapsed = None
    if "Pneumothorax" in findings:  # the lung falls away from the apex and the lateral wall
        side = _side(finding_rng)
        lung, k = (right, left)[side], s["Pneumothorax"]
        f = 0.14 + 0.22 * k
        medial = 1.0 if side == RIGHT else -1.0
        inner = Lung(
            cx=lung.cx + medial * lung.ax * f * 0.6,
            cy=lung.cy + lung.ay * f * 0.75,
            ax=lung.ax * (1 - f),
            ay=lung.ay * (1 - 0.75 * f),
        )
        collapsed = (side, inner, k)
    return Anatomy(
        lungs=(right, left),
        heart=tuple(heart),
        lung_air=air,
        markings=markings,
        heart_density=heart_density,
        collapsed=collapsed,
    )


# Small shapes of the normal chest, as Canvas.add callbacks.
def _trachea(X, Y, rows, cols):
    return -0.12 * _soft(np.abs(X - 0.5) / 0.016, 0.4) * np.clip((0.36 - Y) / 0.05, 0, 1)


def _aortic_knob(X, Y, rows, cols):
    return 0.12 * _soft(_ellipse(X, Y, 0.56, 0.28, 0.035, 0.035), 0.3)


def _clavicle(X, Y, rows, cols):
    return 0.12 * _soft(np.abs(Y - 0.17 - 1.2 * (np.abs(X - 0.5) - 0.22) ** 2) / 0.016, 0.5)


def _breast(X, Y, cx):
    return 0.05 * _soft(_ellipse(X, Y, cx, 0.72, 0.17, 0.13), 0.6)


def _draw_anatomy(canvas: Canvas, a: Anatomy, sex: str) -> list[np.ndarray]:
    """Draw the chest; returns the two lung masks (where lung air shows, heart excluded)."""
    rng = canvas.rng
    X, Y = canvas.x[None, :], canvas.y[:, None]
    d = canvas.d
    # Soft tissue of the trunk; the abdomen below the diaphragm is a little denser.
    trunk = ((X - 0.5) / (0.45 + rng.normal(0, 0.01))) ** 4 + ((Y - 0.62) / 0.62) ** 4
    d += 0.4 * _soft(trunk, 0.3)
    d += 0.08 * np.clip((Y - 0.72) / 0.12, 0, 1)
    # Mediastinum and heart are one soft-tissue shadow (their union, not a sum); spine through it.
    width = 0.045 + 0.035 * np.clip((Y - 0.22) / 0.3, 0, 1)
    centre = _soft(np.abs(X - 0.5 - 0.01) / width, 0.4) * np.clip((Y - 0.02) / 0.1, 0, 1)
    hx, hy, hax, hay = a.heart
    rows, cols, HX, HY = canvas.region(hx - hax - 0.03, hy - hay - 0.03, hx + hax + 0.03, hy + hay + 0.03)
    heart = np.zeros_like(d)
    heart[rows, cols] = _soft(_ellipse(HX, HY, hx, hy, hax, hay), 0.2)
    centre = np.maximum(centre, heart)
    d += 0.22 * centre + a.heart_density * heart + 0.05 * _soft(np.abs(X - 0.5) / 0.03, 0.3)
    masks = []
    for lung in a.lungs:
        rows, cols, _, _ = canvas.region(*_lung_bounds(lung, 0.02))
        mask = np.zeros_like(d)
        mask[rows, cols] = _lung_mask(canvas, lung, rows, cols) * (1 - 0.9 * heart[rows, cols])
        masks.append(mask)
    lungs = masks[0] + masks[1]
    d -= a.lung_air * lungs
    tissue = lungs
    if a.collapsed is not None:  # pleural air: no lung markings, darker, a thin visceral pleural line
        side, inner, k = a.collapsed
        rows, cols, X2, Y2 = canvas.region(*_lung_bounds(a.lungs[side], 0.02))
        r2 = inner.r(X2, Y2)
        upper = np.clip((inner.cy + 0.3 * inner.ay - Y2) / 0.08, 0, 1)
        gap = masks[side][rows, cols] * np.clip((r2 - 1) / 0.08, 0, 1) * upper
        tissue = lungs.copy()
        tissue[rows, cols] -= gap
        line = _soft(np.abs(r2 - 1) / 0.05, 0.5) * upper * masks[side][rows, cols]
        d[rows, cols] += -0.08 * k * gap + 0.16 * k * line
    # Vascular markings: denser near the hila, fading to the periphery.
    hila = np.exp(-(((X - 0.5) / 0.22) ** 2)) * np.exp(-(((Y - 0.5) / 0.25) ** 2))
    d += a.markings * tissue * (0.4 + hila) * np.maximum(canvas.noise(28), 0.0)
    # Trachea (a dark band down the upper mediastinum) and the aortic knob.
    canvas.add(0.47, 0.0, 0.53, 0.36, _trachea)
    canvas.add(0.5, 0.22, 0.62, 0.34, _aortic_knob)
    # Posterior ribs: bands sloping down laterally, faint outside the lungs; the clavicles.
    phase = rng.uniform(0, 1)
    spacing = rng.normal(0.075, 0.004)
    ribs = np.clip(np.cos(2 * np.pi * ((Y - 1.6 * (X - 0.5) ** 2) / spacing + phase)) - 0.35, 0, None)
    d += 0.08 * ribs * np.clip(0.3 + lungs, 0, 1) * np.clip((0.8 - Y) / 0.1, 0, 1)
    for x0, x1 in ((0.1, 0.44), (0.56, 0.9)):
        canvas.add(x0, 0.1, x1, 0.3, _clavicle)
    if sex == "F":  # breast shadows over the lower zones
        for cx in (0.25, 0.75):
            canvas.add(cx - 0.2, 0.5, cx + 0.2, 0.9, lambda X, Y, rows, cols, cx=cx: _breast(X, Y, cx))
    return masks


# --- findings drawn over the anatomy ------------------------------------------------------------
# Each takes (canvas, anatomy, lung masks, strength, rng) and returns the boxes it drew.


def _round_opacity(label: str, radius: tuple[float, float], lobulated: bool):
    def draw_finding(canvas: Canvas, a: Anatomy, masks, k: float, rng) -> list[Box]:
        lung = a.lungs[_side(rng)]
        r = rng.uniform(*radius)
        cx, cy = lung.point(rng, 0.18, 0.75, margin=0.75 - r)
        amp, phase, lobes = 0.42 * k, rng.uniform(0, 2 * np.pi), rng.integers(3, 6)

        def draw(X, Y, rows, cols):
            q = _ellipse(X, Y, cx, cy, r, r)
            if lobulated:
                q = q * (1 + 0.18 * np.cos(lobes * np.arctan2(Y - cy, X - cx) + phase))
            return amp * np.sqrt(np.clip(1 - q, 0, 1))

        pad = 1.25 * r
        canvas.add(cx - pad, cy - pad, cx + pad, cy + pad, draw)
        return [canvas.box(label, cx - 1.12 * r, cy - 1.12 * r, cx + 1.12 * r, cy + 1.12 * r)]

    return draw_finding


def _effusion(canvas: Canvas, a: Anatomy, masks, k: float, rng) -> list[Box]:
    """Fluid at the base: homogeneous opacity with a meniscus rising to the lateral wall."""
    sides = (RIGHT, LEFT) if rng.random() < 0.25 else (_side(rng),)
    boxes = []
    for side in sides:
        lung = a.lungs[side]
        base = lung.cy + lung.ay
        level = base - (0.1 + 0.16 * k) * lung.ay * 2
        lateral = -1.0 if side == RIGHT else 1.0
        x0, x1 = lung.cx - 1.1 * lung.ax, lung.cx + 1.1 * lung.ax
        amp = 0.4 * k

        def draw(X, Y, rows, cols, lung=lung, level=level, lateral=lateral, side=side, amp=amp):
            rise = 0.07 * np.clip((X - lung.cx) * lateral / lung.ax + 0.3, 0, 1.3)
            return amp * masks[side][rows, cols] * np.clip((Y - level + rise) / 0.03, 0, 1)

        canvas.add(x0, level - 0.1, x1, base + 0.02, draw)
        boxes.append(canvas.box("Effusion", x0, level - 0.095, x1, base))
    return boxes


def _patchy(label: str, lo: float, hi: float, size: tuple[float, float], grain: int, amp: float, bias: float):
    """Patchy airspace opacity: thresholded smooth noise under a soft elliptical envelope."""

    def draw_finding(canvas: Canvas, a: Anatomy, masks, k: float, rng) -> list[Box]:
        side = _side(rng)
        lung = a.lungs[side]
        cx, cy = lung.point(rng, lo, hi, margin=0.55)
        rx, ry = rng.uniform(*size), rng.uniform(*size) * 1.15
        level = amp * k

        def draw(X, Y, rows, cols):
            envelope = _soft(_ellipse(X, Y, cx, cy, rx, ry), 0.6)
            patches = np.clip(canvas.noise(grain, rows, cols, rng) * 0.6 + bias, 0, 1)
            return level * envelope * patches * masks[side][rows, cols]

        canvas.add(cx - rx, cy - ry, cx + rx, cy + ry, draw)
        return [canvas.box(label, cx - rx, cy - ry, cx + rx, cy + ry)]

    return draw_finding


def _consolidation(canvas: Canvas, a: Anatomy, masks, k: float, rng) -> list[Box]:
    """Dense homogeneous lobar opacity bounded above by a fissure, with dark air bronchograms."""
    side = _side(rng)
    lung = a.lungs[side]
    top = lung.cy - lung.ay * rng.uniform(0.15, 0.45)
    bottom = top + lung.ay * rng.uniform(0.6, 0.9)
    amp, tilt = 0.38 * k, rng.uniform(-0.15, 0.15)
    hilum = (0.5 + (lung.cx - 0.5) * 0.45, lung.cy)
    angles = rng.uniform(-0.6, 0.6, 3) + (np.pi if side == RIGHT else 0.0)

    def draw(X, Y, rows, cols):
        fissure = top + tilt * (X - lung.cx)
        lobe = np.clip((Y - fissure) / 0.012, 0, 1) * np.clip((bottom - Y) / 0.08, 0, 1)
        dx, dy = X - hilum[0], Y - hilum[1]
        air = sum(
            _soft(np.abs(dy * np.cos(t) - dx * np.sin(t)) / 0.008, 0.6) * (dx * np.cos(t) + dy * np.sin(t) > 0)
            for t in angles
        )
        return amp * lobe * (1 - 0.45 * np.clip(air, 0, 1)) * masks[side][rows, cols]

    canvas.add(*_lung_bounds(lung), draw)
    return []


def _atelectasis(canvas: Canvas, a: Anatomy, masks, k: float, rng) -> list[Box]:
    """A plate-like band or a basal wedge in the lower zone (the volume loss is in `_anatomy`)."""
    lung = a.lungs[_side(rng)]
    cx, cy = lung.point(rng, 0.6, 0.82, margin=0.45)
    theta = rng.uniform(-0.45, 0.45)
    half = rng.uniform(0.07, 0.1)
    thick = 0.012 + 0.014 * k
    wedge = rng.random() < 0.5
    c, s = np.cos(theta), np.sin(theta)
    amp = 0.42 * k

    def draw(X, Y, rows, cols):
        along = (X - cx) * c + (Y - cy) * s
        across = -(X - cx) * s + (Y - cy) * c
        width = thick * (1.6 + 1.4 * along / half) if wedge else thick
        return amp * _soft(np.abs(across) / np.maximum(width, 1e-3), 0.5) * _soft(np.abs(along) / half, 0.2)

    ext_x = half * abs(c) + 3 * thick
    ext_y = half * abs(s) + 3 * thick
    canvas.add(cx - ext_x, cy - ext_y, cx + ext_x, cy + ext_y, draw)
    return [canvas.box("Atelectasis", cx - ext_x, cy - ext_y, cx + ext_x, cy + ext_y)]


def _edema(canvas: Canvas, a: Anatomy, masks, k: float, rng) -> list[Box]:
    """Bilateral perihilar ("bat wing") haze with septal (Kerley B) lines at the lateral bases."""
    amp = 0.22 * k
    for side, hilum_x in ((RIGHT, 0.36), (LEFT, 0.64)):
        lung = a.lungs[side]
        lateral = -1.0 if side == RIGHT else 1.0
        edge = lung.cx + lateral * lung.ax
        base = lung.cy + 0.5 * lung.ay

        def haze(X, Y, rows, cols, hilum_x=hilum_x, side=side):
            return amp * masks[side][rows, cols] * np.exp(-_ellipse(X, Y, hilum_x, 0.52, 0.12, 0.16))

        def septal_lines(X, Y, rows, cols, side=side):
            return 1.5 * amp * masks[side][rows, cols] * np.clip(np.cos(Y * 160) - 0.6, 0, 1)

        canvas.add(*_lung_bounds(lung), haze)
        inner_edge = edge - lateral * 0.06
        canvas.add(min(edge, inner_edge), base, max(edge, inner_edge), base + 0.4 * lung.ay, septal_lines)
    return []


def _fibrosis(canvas: Canvas, a: Anatomy, masks, k: float, rng) -> list[Box]:
    """Reticular net (zero crossings of smooth noise), basal and peripheral, both lungs."""
    amp = 0.26 * k
    for side in (RIGHT, LEFT):
        lung = a.lungs[side]

        def draw(X, Y, rows, cols, lung=lung, side=side):
            net = _soft(np.abs(canvas.noise(22, rows, cols, rng)) / 0.22, 0.6)
            basal = np.clip((Y - lung.cy + 0.4 * lung.ay) / (0.8 * lung.ay), 0, 1)
            peripheral = np.clip(np.abs(X - lung.cx) / lung.ax + 0.3, 0, 1)
            return amp * net * basal * peripheral * masks[side][rows, cols]

        canvas.add(*_lung_bounds(lung), draw)
    return []


def _pleural_thickening(canvas: Canvas, a: Anatomy, masks, k: float, rng) -> list[Box]:
    """A bright rim along the lateral chest wall and apex."""
    amp = 0.36 * k
    width = 0.1 + 0.12 * k
    sides = (RIGHT, LEFT) if rng.random() < 0.35 else (_side(rng),)
    for side in sides:
        lung = a.lungs[side]
        lateral = -1.0 if side == RIGHT else 1.0

        def draw(X, Y, rows, cols, lung=lung, lateral=lateral):
            r = lung.r(X, Y)
            rim = _soft(np.abs(r - (1 - width / 2)) / (width / 2), 0.5)
            lateral_wall = np.clip((X - lung.cx) * lateral / lung.ax + 0.2, 0, 1)
            apex = np.clip((lung.cy - 0.55 * lung.ay - Y) / 0.05, 0, 1)
            return amp * rim * np.clip(lateral_wall + apex, 0, 1)

        canvas.add(*_lung_bounds(lung), draw)
    return []


def _hernia(canvas: Canvas, a: Anatomy, masks, k: float, rng) -> list[Box]:
    """Hiatal hernia: a retrocardiac bubble above the diaphragm with an air-fluid level."""
    hx, hy, hax, hay = a.heart
    cx, cy = hx + rng.normal(0.0, 0.015), hy + 0.55 * hay
    r = rng.uniform(0.045, 0.065) * (0.8 + 0.3 * k)
    level = cy + rng.uniform(0.0, 0.4) * r
    amp = 0.26 * k

    def draw(X, Y, rows, cols):
        q = _ellipse(X, Y, cx, cy, r * 1.15, r)
        rim = _soft(np.abs(q - 0.85) / 0.25, 0.5)
        inside = _soft(q, 0.2)
        air = inside * np.clip((level - Y) / 0.006, 0, 1)
        return amp * (rim - 1.4 * air + 0.3 * (inside - air))

    canvas.add(cx - 1.4 * r, cy - 1.3 * r, cx + 1.4 * r, cy + 1.3 * r, draw)
    return []


_OVERLAYS = {
    "Atelectasis": _atelectasis,
    "Effusion": _effusion,
    "Infiltration": _patchy("Infiltration", 0.3, 0.8, (0.06, 0.09), grain=26, amp=0.45, bias=0.45),
    "Mass": _round_opacity("Mass", (0.06, 0.09), lobulated=True),
    "Nodule": _round_opacity("Nodule", (0.03, 0.042), lobulated=False),
    "Pneumonia": _patchy("Pneumonia", 0.5, 0.85, (0.08, 0.11), grain=12, amp=0.45, bias=0.7),
    "Consolidation": _consolidation,
    "Edema": _edema,
    "Fibrosis": _fibrosis,
    "Pleural_Thickening": _pleural_thickening,
    "Hernia": _hernia,
}


def _anatomy_boxes(canvas: Canvas, a: Anatomy, findings: Collection[str]) -> list[Box]:
    """Boxes of the findings drawn as changed anatomy (Cardiomegaly, Pneumothorax)."""
    boxes = []
    if "Cardiomegaly" in findings:
        hx, hy, hax, hay = a.heart
        boxes.append(canvas.box("Cardiomegaly", hx - hax, hy - hay, hx + hax, hy + hay))
    if a.collapsed is not None:
        side, inner, _ = a.collapsed
        lung = a.lungs[side]
        x0, x1 = lung.cx - lung.ax, lung.cx + lung.ax
        boxes.append(canvas.box("Pneumothorax", x0, lung.cy - lung.ay, x1, inner.cy + 0.3 * inner.ay))
    return boxes


def _strength(name: str, rng: np.random.Generator) -> float:
    faint = rng.random() < FAINT_SHARE[name]
    return STRENGTH[name] * (rng.uniform(0.1, 0.35) if faint else rng.uniform(0.55, 1.0))


def render_chest(
    findings: Collection[str], *, size: int, rng: np.random.Generator, view: str = "PA", sex: str = "M"
) -> Rendered:
    """A grey chest radiograph showing `findings` (canonical names), with the boxes of BOX_CLASSES.

    The chest and the findings draw from separate streams, so the same `rng` state renders the
    same chest with or without a finding (outside what the finding changes).
    """
    chest_rng, finding_rng = (np.random.default_rng(seed) for seed in rng.integers(0, 2**63, size=2))
    strength = {name: _strength(name, finding_rng) for name in sorted(findings)}
    canvas = Canvas(size, chest_rng)
    anatomy = _anatomy(chest_rng, findings, view, strength, finding_rng)
    masks = _draw_anatomy(canvas, anatomy, sex)
    boxes = _anatomy_boxes(canvas, anatomy, findings)
    for name in sorted(findings):
        if name in _OVERLAYS:
            boxes += _OVERLAYS[name](canvas, anatomy, masks, strength[name], finding_rng)
    return Rendered(image=_expose(canvas, view), boxes=tuple(sorted(boxes, key=lambda b: b.label)))


def _expose(canvas: Canvas, view: str) -> np.ndarray:
    """Density to an 8-bit image: exposure, contrast and gamma vary; quantum noise on top."""
    rng = canvas.rng
    d = canvas.d
    d += 0.03 * canvas.noise(4)
    d += rng.standard_normal(d.shape, dtype=np.float32) * (0.008 if view == "AP" else 0.005)
    gain = rng.uniform(1.0, 1.25)
    low = rng.uniform(-0.06, 0.02)
    img = np.clip((d - low) * gain, 0, 1) ** rng.uniform(0.8, 1.2)
    return (img * 255 + 0.5).astype(np.uint8)
