"""The latent map: the plane [-2, 2]^2 ([-4, 4]^2 with extend) with the point, its trail and
the semantic anchors; 3-D adds a z gauge; 1-D is a line. Click or drag sets the point."""

from __future__ import annotations

from collections import deque

from rich.style import Style
from textual import events
from textual.widget import Widget

from .curve import _merge
from .messages import PointPicked
from .rows import Row, RowsView

S_AXIS = Style(color="#4a5560")
S_ANCHOR = Style(color="#7bd389")
S_ANCHOR_DIM = Style(color="#3d6b47")
S_AB = Style(color="#000000", bgcolor="#7bd389", bold=True)
S_POINT = Style(color="#ffcc33", bold=True)
S_TRAIL = Style(color="#a07a1f")
S_TITLE = Style(color="#8a96a3")
S_PATH = Style(color="#5fa8d3")
S_MOVING = Style(color="#ff6f91", bold=True)
Z_GAUGE = 4


class LatentMap(RowsView, Widget):
    """Feed it (dims, range, point, anchors, A/B, encoded) and it draws; mouse sets x/y."""

    DEFAULT_CSS = "LatentMap { width: 35%; height: 1fr; }"

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self._inputs: tuple = ()
        self.trail: deque[tuple[float, ...]] = deque(maxlen=12)
        self._dragging = False
        self._motion: tuple = (None, ())
        self._static_at: tuple | None = None  # (key, the base drawn for it)

    def feed_motion(
        self, moving: tuple[float, float] | None, path: tuple[tuple[float, float], ...]
    ) -> None:
        """The moving point (modulators, path, recording; None when nothing moves it) and the
        path's curve, in the map's units; redraws only when they change."""
        motion = (moving, path)
        if motion != self._motion:
            self._motion = motion
            self.rows_changed()

    def feed(
        self,
        dims: int,
        rng: float,
        point: tuple[float, ...],
        anchors: tuple,
        ab: tuple[int, int] | None,
        encoded: bool,
    ) -> None:
        inputs = (dims, rng, tuple(round(v, 3) for v in point), anchors, ab, encoded)
        if inputs == self._inputs:
            return
        if self._inputs and self._inputs[0] == dims and self._inputs[2] != inputs[2]:
            self.trail.append(self._inputs[2])
        elif self._inputs and self._inputs[0] != dims:
            self.trail.clear()
        self._inputs = inputs
        self.rows_changed()

    # ------------------------------------------------------------ geometry

    def _plane(self) -> tuple[int, int]:
        dims = self._inputs[0] if self._inputs else 2
        w = self.size.width - (Z_GAUGE if dims == 3 else 0)
        return max(w, 1), max(self.size.height - 1, 1)

    def _cell(
        self, x: float, y: float, rng: float, plane: tuple[int, int] | None = None
    ) -> tuple[int, int, bool]:
        pw, ph = plane or self._plane()
        cx = (x + rng) / (2 * rng) * (pw - 1)
        cy = (rng - y) / (2 * rng) * (ph - 1)
        inside = 0 <= cx <= pw - 1 and 0 <= cy <= ph - 1
        return int(round(min(max(cx, 0), pw - 1))), int(round(min(max(cy, 0), ph - 1))), inside

    def _value_at(self, col: int, row: int) -> tuple[float, float | None]:
        dims, rng = (self._inputs[0], self._inputs[1]) if self._inputs else (2, 2.0)
        pw, ph = self._plane()
        x = -rng + 2 * rng * min(max(col, 0), pw - 1) / max(pw - 1, 1)
        if dims == 1:
            return x, None
        y = rng - 2 * rng * min(max(row - 1, 0), ph - 1) / max(ph - 1, 1)
        return x, y

    # ------------------------------------------------------------ mouse

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self._dragging = True
        self.capture_mouse()
        self.post_message(PointPicked(*self._value_at(event.x, event.y)))

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._dragging:
            self.post_message(PointPicked(*self._value_at(event.x, event.y)))

    def on_mouse_up(self, event: events.MouseUp) -> None:
        self._dragging = False
        self.release_mouse()

    # ------------------------------------------------------------ drawing

    def draw_rows(self) -> list[Row]:
        if not self._inputs:
            return []
        dims, rng, point, anchors, ab, encoded = self._inputs
        w, h = self.size
        plane = pw, ph = self._plane()
        coords = " ".join(f"{n}{v:+.2f}" for n, v in zip("xyz", point, strict=False))
        title = ("enc " if encoded else "") + coords
        base, merged = self._static(w, h, plane)
        grid: list = list(base)  # (a row is copied when first drawn over)
        touched: set[int] = set()  # rows drawn over (the others are the base's, merged)

        def put(r: int, c: int, cell: tuple[str, Style]) -> None:
            if r not in touched:
                grid[r] = list(grid[r])
                touched.add(r)
            grid[r][c] = cell

        for old in self.trail:
            c, r, _ = self._cell(old[0], old[1] if dims > 1 else 0.0, rng, plane)
            if dims == 1:
                r = (ph - 1) // 2
            if grid[r][c][1] not in (S_AB, S_ANCHOR):
                put(r, c, ("•", S_TRAIL))
        moving, path = self._motion if dims > 1 else (None, ())
        for px, py in path:
            c, r, inside = self._cell(px, py, rng, plane)
            if inside and grid[r][c][1] not in (S_AB, S_ANCHOR):
                put(r, c, ("∙", S_PATH))
        c, r, inside = self._cell(point[0], point[1] if dims > 1 else 0.0, rng, plane)
        if dims == 1:
            r = (ph - 1) // 2
        put(r, c, ("●" if inside else "◌", S_POINT))
        if moving is not None:
            c, r, inside = self._cell(moving[0], moving[1], rng, plane)
            put(r, c, ("◉" if inside else "◌", S_MOVING))
            title += f" → {moving[0]:+.2f},{moving[1]:+.2f}"
        if dims == 3:
            zv = point[2] if len(point) > 2 else 0.0
            zr = int(round((rng - min(max(zv, -rng), rng)) / (2 * rng) * (ph - 1)))
            for r in range(ph):
                put(r, pw, (" ", S_AXIS))
                put(r, pw + 1, ("┃" if r != zr else "◀", S_POINT if r == zr else S_AXIS))
                put(r, pw + 2, ("z" if r == zr else " ", S_POINT))
        rows = [_merge(row) if r in touched else merged[r] for r, row in enumerate(grid)]
        return [[(title[:w].ljust(w), S_TITLE)], *rows]

    def _static(self, w: int, h: int, plane: tuple[int, int]) -> tuple[tuple, list[Row]]:
        """The map without the point, its trail and the motion: the axes and the anchors
        (cells and merged rows), drawn again only when they change."""
        dims, rng, _, anchors, ab, _ = self._inputs
        key = (w, h, plane, dims, rng, anchors, ab)
        if self._static_at is not None and self._static_at[0] == key:
            return self._static_at[1]
        pw, ph = plane
        grid: list[list[tuple[str, Style | None]]] = [[(" ", S_AXIS)] * w for _ in range(h - 1)]
        if dims == 1:
            mid = (ph - 1) // 2
            for c in range(pw):
                grid[mid][c] = ("─", S_AXIS)
            grid[mid][pw // 2] = ("┼", S_AXIS)
        else:
            mr, mc = (ph - 1) // 2, (pw - 1) // 2
            for c in range(pw):
                grid[mr][c] = ("─", S_AXIS)
            for r in range(ph):
                grid[r][mc] = ("│", S_AXIS)
            grid[mr][mc] = ("┼", S_AXIS)
        # anchors: intensity 0 labelled, others as small dots
        labelled = []
        for i, (label, intensity, z) in enumerate(anchors):
            x = z[0]
            y = z[1] if dims > 1 else 0.0
            c, r, inside = self._cell(x, y, rng, plane)
            if dims == 1:
                r = (ph - 1) // 2
            mark = None
            if ab is not None and i in ab:
                mark = ("A" if i == ab[0] else "B", S_AB)
            elif intensity == 0:
                mark = ("◆", S_ANCHOR)
            elif inside:
                mark = ("·", S_ANCHOR_DIM)
            if mark and inside:
                grid[r][c] = mark
            if intensity == 0 or (ab is not None and i in ab):
                labelled.append((r, c, label))
        for r, c, label in labelled:
            rr = r
            if dims == 1:
                rr = r - 1 - (len(labelled) and labelled.index((r, c, label)) % 2)
                rr = max(rr, 0)
            start = c + 1 if dims > 1 else max(c - len(label) // 2, 0)
            if dims > 1 and start + len(label) > pw:
                start = max(c - len(label), 0)
            if all(grid[rr][k][0] in " ─│" for k in range(start, min(start + len(label), pw))):
                for k, ch in enumerate(label):
                    if start + k < pw:
                        grid[rr][start + k] = (ch, S_ANCHOR)
        base = (tuple(tuple(row) for row in grid), [_merge(row) for row in grid])
        self._static_at = (key, base)
        return base
