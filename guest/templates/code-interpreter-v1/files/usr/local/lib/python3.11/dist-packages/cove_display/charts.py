# A matplotlib Figure as the `e2b/chart` display format, which E2B's SDK
# shows as `result.chart` (types Chart, Chart2D, PointChart, BarChart,
# PieChart, BoxAndWhiskerChart, SuperChart of @e2b/code-interpreter).
#
# The shapes follow E2B's own extractor (the e2b_charts package of
# e2b-dev/code-interpreter): one chart per Axes, typed by what the Axes holds
# (only lines: line; only scatter collections: scatter; only wedges: pie; only
# bars: bar; box patches and lines: box_and_whisker; anything else: unknown,
# with no elements); a figure with several Axes is a "superchart" whose
# elements are those charts and whose title is the figure's suptitle. Keys
# that have no value are null, as E2B sends them.
#
# Where E2B's extractor gives nothing useful this gives more, in the same
# shapes: boxplots drawn without patch_artist are boxes (E2B: lines), dates
# are ISO strings also in scatter plots and pandas time-series plots, and
# reference lines (axhline/axvline) and colorbars are left out.
import matplotlib.collections
import matplotlib.lines
import matplotlib.patches
import matplotlib.text
import numpy

from . import chart_axis
from . import chart_shapes

# A figure with more points than this (all lines and scatters) gets no chart;
# its PNG is still shown. 500,000 points are about 20 MB of JSON.
MAX_POINTS = 500_000


def figure_to_chart(figure):
    """The chart dict of a Figure, or None for a figure with nothing plotted
    (or more than MAX_POINTS points)."""
    axes = [ax for ax in figure.get_axes() if not _is_colorbar(ax)]
    if not axes or not any(ax.has_data() for ax in axes):
        return None
    if _point_count(axes) > MAX_POINTS:
        return None
    if len(axes) == 1:
        chart = axes_to_chart(axes[0])
        if chart["title"] is None:
            chart["title"] = _suptitle(figure)
        return chart
    return {"type": "superchart", "title": _suptitle(figure),
            "elements": [axes_to_chart(ax) for ax in axes]}


def axes_to_chart(ax):
    """The chart dict of one Axes."""
    kind, boxes = _classify(ax)
    if kind == "line":
        return _point_chart(ax, "line", _line_elements)
    if kind == "scatter":
        return _point_chart(ax, "scatter", _scatter_elements)
    if kind == "pie":
        return _chart(ax, "pie", chart_shapes.pie_elements(ax))
    if kind == "bar":
        chart = _chart_2d(ax, "bar", [])
        chart["elements"], horizontal = chart_shapes.bar_elements(ax)
        return _swap_axes(chart) if horizontal else chart
    if kind == "box_and_whisker":
        chart = _chart_2d(ax, "box_and_whisker", [])
        chart["elements"], horizontal = chart_shapes.box_elements(ax, boxes)
        return _swap_axes(chart) if horizontal else chart
    return _chart(ax, "unknown", [])


def _classify(ax):
    """(chart type, boxes found if a box plot)."""
    children = [c for c in _plotted(ax)
                if not isinstance(c, matplotlib.text.Text)
                and not chart_shapes.is_reference_line(ax, c)]
    box_parts = (matplotlib.lines.Line2D, matplotlib.patches.PathPatch)
    if all(isinstance(c, box_parts) for c in children):
        boxes = chart_shapes.find_boxes(ax)
        if boxes:
            return "box_and_whisker", boxes
        if all(isinstance(c, matplotlib.lines.Line2D) for c in children):
            return "line", None
    # As E2B: short axis-parallel lines (error bars, grid-like lines) do not
    # change what the rest of the Axes is.
    ignored = chart_shapes.errorbar_artists(ax)
    children = [c for c in children if id(c) not in ignored
                and not chart_shapes.is_axis_parallel_segment(c)]
    if not children:
        return "unknown", None
    # Lines with bands around them (seaborn's lineplot, fill_between under a
    # line): the lines are the chart. E2B calls these unknown.
    if any(isinstance(c, matplotlib.lines.Line2D) for c in children) and all(
            isinstance(c, (matplotlib.lines.Line2D,
                           matplotlib.collections.PolyCollection))
            for c in children):
        return "line", None
    for kind, cls in (("scatter", matplotlib.collections.PathCollection),
                      ("pie", matplotlib.patches.Wedge),
                      ("bar", matplotlib.patches.Rectangle)):
        if all(isinstance(c, cls) for c in children):
            if kind == "bar" and not chart_shapes.has_bars(ax):
                break
            return kind, None
    return "unknown", None


def _plotted(ax):
    """The artists added to the Axes (not its spines, axis or background)."""
    children = getattr(ax, "_children", None)  # matplotlib >= 3.5
    if children is None:
        children = (list(ax.lines) + list(ax.collections) + list(ax.patches)
                    + list(ax.texts) + list(ax.images) + list(ax.artists))
    return list(children)


def _chart(ax, kind, elements):
    return {"type": kind, "title": _title(ax), "elements": elements}


def _chart_2d(ax, kind, elements):
    chart = _chart(ax, kind, elements)
    x_label = ax.get_xlabel() or None
    y_label = ax.get_ylabel() or None
    chart.update({"x_label": x_label, "y_label": y_label,
                  "x_unit": chart_axis.label_unit(x_label),
                  "y_unit": chart_axis.label_unit(y_label)})
    return chart


def _swap_axes(chart):
    """Horizontal bars and boxes: E2B names the category axis x."""
    chart["x_label"], chart["y_label"] = chart["y_label"], chart["x_label"]
    chart["x_unit"], chart["y_unit"] = chart["y_unit"], chart["x_unit"]
    return chart


def _point_chart(ax, kind, elements_of):
    chart = _chart_2d(ax, kind, [])
    x_axis = chart_axis.AxisInfo(ax.xaxis)
    y_axis = chart_axis.AxisInfo(ax.yaxis)
    chart.update({
        "x_ticks": x_axis.tick_values(), "x_tick_labels": x_axis.tick_labels,
        "x_scale": x_axis.scale,
        "y_ticks": y_axis.tick_values(), "y_tick_labels": y_axis.tick_labels,
        "y_scale": y_axis.scale,
        "elements": elements_of(ax, x_axis, y_axis)})
    return chart


def _line_elements(ax, x_axis, y_axis):
    elements = []
    for line in ax.get_lines():
        if chart_shapes.is_reference_line(ax, line):
            continue
        label = str(line.get_label())
        if label.startswith("_child") and label[6:].isdigit():
            label = "Line " + label[6:]  # E2B's name for unlabelled lines
        xs = x_axis.values_to_json(line.get_xdata())
        ys = y_axis.values_to_json(line.get_ydata())
        elements.append({"label": label,
                         "points": [list(p) for p in zip(xs, ys)]})
    return elements


def _scatter_elements(ax, x_axis, y_axis):
    elements = []
    for collection in ax.collections:
        if not isinstance(collection, matplotlib.collections.PathCollection):
            continue
        # Rows with a NaN come masked whole; the unmasked data keeps the
        # other coordinate (NaN itself becomes null).
        offsets = numpy.ma.getdata(collection.get_offsets())
        xs = x_axis.values_to_json(offsets[:, 0]) if len(offsets) else []
        ys = y_axis.values_to_json(offsets[:, 1]) if len(offsets) else []
        # E2B sends the collection's label as it is, "_child0" included.
        elements.append({"label": str(collection.get_label()),
                         "points": [list(p) for p in zip(xs, ys)]})
    return elements


def _title(ax):
    for loc in ("center", "left", "right"):
        title = ax.get_title(loc)
        if title:
            return title
    return None


def _suptitle(figure):
    getter = getattr(figure, "get_suptitle", None)  # matplotlib >= 3.8
    if getter is not None:
        return getter() or None
    text = getattr(figure, "_suptitle", None)
    return (text.get_text() or None) if text is not None else None


def _point_count(axes):
    count = 0
    for ax in axes:
        count += sum(len(line.get_xdata()) for line in ax.get_lines())
        count += sum(len(c.get_offsets()) for c in ax.collections)
    return count


def _is_colorbar(ax):
    return getattr(ax, "_colorbar", None) is not None
