# The elements of bar, pie and box-and-whisker charts for the `e2b/chart`
# format, read from what matplotlib drew, in E2B's shapes:
#   bar: {label: the category (tick label) of the bar, group: the bar set's
#         legend label ("Group N" when it has none), value: its length}
#   pie: {label: the wedge's label, angle: its degrees, radius}
#   box: {label, min, first_quartile, median, third_quartile, max, outliers}
# Boxes are found by their geometry, the way E2B's extractor does: a box
# outline (a PathPatch with patch_artist=True, else a closed Line2D), the
# median line across it, the whiskers from its ends and the marker-only flier
# lines on its centre line.
import math

import matplotlib.container
import matplotlib.lines
import matplotlib.patches
import numpy

from . import chart_axis


def is_reference_line(ax, artist):
    """axhline/axvline and other lines not in data coordinates."""
    return isinstance(artist, matplotlib.lines.Line2D) and \
        artist.get_transform() is not ax.transData


def is_axis_parallel_segment(artist):
    """E2B's "grid line": a two-point horizontal or vertical Line2D."""
    if not isinstance(artist, matplotlib.lines.Line2D):
        return False
    points = _points(artist)
    return points is not None and len(points) == 2 and (
        points[0, 0] == points[1, 0] or points[0, 1] == points[1, 1])


def errorbar_artists(ax):
    """ids of the artists of error bars (bar(..., yerr=...), errorbar())."""
    found = set()

    def walk(item):
        if isinstance(item, (tuple, list)):
            for part in item:
                walk(part)
        elif item is not None:
            found.add(id(item))

    for container in ax.containers:
        if isinstance(container, matplotlib.container.ErrorbarContainer):
            walk(tuple(container))
    return found


def has_bars(ax):
    return any(isinstance(c, matplotlib.container.BarContainer)
               for c in ax.containers)


def bar_elements(ax):
    """([{label, group, value}], whether the bars are horizontal)."""
    elements = []
    horizontal = False
    for container in ax.containers:
        if not isinstance(container, matplotlib.container.BarContainer):
            continue
        horizontal = _bar_orientation(container) == "horizontal"
        axis = chart_axis.AxisInfo(ax.yaxis if horizontal else ax.xaxis)
        group = str(container.get_label())
        if group.startswith("_container") and group[10:].isdigit():
            group = "Group " + group[10:]  # E2B's name for unlabelled sets
        for rect in container.patches:
            if horizontal:
                low, size = rect.get_y(), rect.get_height()
                value = rect.get_width()
            else:
                low, size = rect.get_x(), rect.get_width()
                value = rect.get_height()
            label = category_label(axis, low + size / 2, (low, low + size))
            elements.append({"label": label, "group": group,
                             "value": _number(value)})
    return elements, horizontal


def _bar_orientation(container):
    orientation = getattr(container, "orientation", None)  # matplotlib >= 3.4
    if orientation:
        return orientation
    widths = {rect.get_width() for rect in container.patches}
    return "vertical" if len(widths) <= 1 else "horizontal"


def category_label(axis, center, extent=None):
    """The tick label naming a bar or box at `center` on `axis`: on a
    categorical axis the nearest tick's; elsewhere a tick inside the bar's
    extent, else the position itself as text."""
    if not math.isfinite(center):
        return ""
    ticks = axis.ticks
    if ticks:
        nearest = min(range(len(ticks)), key=lambda i: abs(ticks[i] - center))
        low, high = sorted(extent) if extent else (center, center)
        if axis.scale == "categorical" or extent is None or \
                low <= ticks[nearest] <= high:
            return axis.tick_labels[nearest]
    position = axis.number_to_json(center)
    if isinstance(position, float):
        return "%g" % position
    return "" if position is None else str(position)


def pie_elements(ax):
    elements = []
    for wedge in ax.patches:
        if not isinstance(wedge, matplotlib.patches.Wedge):
            continue
        angle = abs(float(wedge.theta2) - float(wedge.theta1))
        elements.append({"label": str(wedge.get_label()),
                         # Wedges keep float32 angles (324 is 323.99999):
                         # 4 decimals, as E2B rounds them.
                         "angle": round(angle, 4),
                         "radius": _number(wedge.r)})
    return elements


def find_boxes(ax):
    """The boxes of a box plot on `ax`: [{position, min, q1, median, q3, max,
    outliers, horizontal}], [] if there are none."""
    outlines, segments, markers = [], [], []
    for artist in list(getattr(ax, "_children", ax.get_children())):
        if isinstance(artist, matplotlib.patches.PathPatch):
            if artist.get_transform() is ax.transData:
                outlines.append(artist.get_path().vertices)
        elif isinstance(artist, matplotlib.lines.Line2D) and \
                not is_reference_line(ax, artist):
            points = _points(artist)
            if points is None:
                continue
            if str(artist.get_linestyle()).lower() in ("none", "", " "):
                markers.append(points)
            elif len(points) == 2:
                segments.append(points)
            elif len(points) >= 5 and numpy.array_equal(points[0], points[-1]):
                outlines.append(points)
    boxes = []
    for outline in outlines:
        box = _match_box(outline, segments, markers)
        if box is not None:
            boxes.append(box)
    return boxes


def box_elements(ax, boxes):
    """([{label, min, first_quartile, ...}], whether the boxes lie
    horizontally)."""
    horizontal = sum(box["horizontal"] for box in boxes) * 2 > len(boxes)
    axis = chart_axis.AxisInfo(ax.yaxis if horizontal else ax.xaxis)
    elements = []
    for box in boxes:
        elements.append({
            "label": category_label(axis, box["position"]),
            "min": _number(box["min"]), "first_quartile": _number(box["q1"]),
            "median": _number(box["median"]),
            "third_quartile": _number(box["q3"]), "max": _number(box["max"]),
            "outliers": [_number(v) for v in box["outliers"]]})
    return elements, horizontal


def _match_box(outline, segments, markers):
    """The box whose outline this is, upright or lying, or None."""
    upright = _match_upright(outline, segments, markers)
    lying = _match_upright(outline[:, ::-1],
                           [s[:, ::-1] for s in segments],
                           [m[:, ::-1] for m in markers])
    best = max((upright, lying), key=lambda m: m[0] if m else -1)
    if best is None:
        return None
    box = best[1]
    box["horizontal"] = best is lying
    return box


def _match_upright(outline, segments, markers):
    """(score, box) for a box standing upright (values along y), or None.
    The median must lie across the box; whiskers and fliers are optional."""
    x0, x1 = float(outline[:, 0].min()), float(outline[:, 0].max())
    q1, q3 = _quartiles(outline, x1 - x0)
    center = (x0 + x1) / 2
    tol_x = (x1 - x0) * 1e-6 + 1e-12
    tol_y = (q3 - q1) * 1e-6 + 1e-12 * max(abs(q1), abs(q3), 1.0)
    if not x1 - x0 > 0:
        return None
    medians = []
    low, high, score = q1, q3, 1
    for (xa, ya), (xb, yb) in segments:
        if ya == yb and q1 - tol_y <= ya <= q3 + tol_y and \
                abs((xa + xb) / 2 - center) <= tol_x and \
                abs(xb - xa) >= (x1 - x0) / 4 - tol_x:
            medians.append(float(ya))  # the median, a cap or a mean line
        elif abs(xa - center) <= tol_x and abs(xb - center) <= tol_x:
            ends = sorted((float(ya), float(yb)))
            if abs(ends[1] - q1) <= tol_y and ends[0] < q1:
                low, score = ends[0], score + 1
            elif abs(ends[0] - q3) <= tol_y and ends[1] > q3:
                high, score = ends[1], score + 1
    # matplotlib draws caps, then the median, then a mean line: the first
    # line strictly inside the box is the median; one on its edge is a cap
    # (or a median equal to a quartile, which gives the same value).
    inside = [y for y in medians if q1 + tol_y < y < q3 - tol_y]
    if not medians:
        return None
    median = inside[0] if inside else medians[0]
    # The fliers are the last marker-only line on the box's centre line
    # (a showmeans marker comes before them); only points beyond the
    # whiskers count.
    fliers = [points for points in markers if len(points) and
              numpy.all(numpy.abs(points[:, 0] - center) <= tol_x)]
    outliers = [float(y) for y in (fliers[-1][:, 1] if fliers else ())
                if y < low - tol_y or y > high + tol_y]
    return score, {"position": center, "min": low, "q1": q1,
                   "median": median, "q3": q3, "max": high,
                   "outliers": outliers}


def _quartiles(outline, width):
    """q1 and q3: the box's bottom and top edges, the two sides that span its
    whole width (a notched box's outline reaches beyond them at the notch)."""
    xs, ys = outline[:, 0], outline[:, 1]
    edges = [float(ys[i]) for i in range(len(outline) - 1)
             if ys[i] == ys[i + 1] and abs(xs[i + 1] - xs[i]) >= width * 0.999]
    if len(edges) >= 2:
        return min(edges), max(edges)
    return float(ys.min()), float(ys.max())


def _points(line):
    """A Line2D's points as an (n, 2) float array in data units, or None."""
    try:
        points = numpy.asarray(line.get_xydata(), dtype=float)
    except (TypeError, ValueError):
        return None
    return points if points.ndim == 2 and points.shape[1] == 2 else None


def _number(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
