# What one matplotlib axis (x or y of an Axes) says about its values, for the
# `e2b/chart` format: its scale (E2B's ScaleType: linear, datetime,
# categorical, log, ...), its visible ticks and their labels, and how a data
# value on it is written in JSON (a number; an ISO date on a date axis; the
# category's name on a categorical axis).
#
# Date axes come in three kinds: matplotlib's date converter (dates,
# datetime64), pandas' DatetimeConverter (a subclass of it) and pandas'
# time-series plots (df.plot() on a DatetimeIndex), whose values are Period
# ordinals formatted by TimeSeries_DateFormatter.
import math
import re
import sys

import matplotlib.category
import matplotlib.dates
import numpy

from . import jsonsafe

_DATE_CONVERTERS = tuple(
    getattr(matplotlib.dates, name) for name in
    ("DateConverter", "_SwitchableDateConverter", "ConciseDateConverter")
    if hasattr(matplotlib.dates, name))


class AxisInfo:
    """Scale, ticks and value conversion of one axis."""

    def __init__(self, axis):
        self.axis = axis
        converter = _converter(axis)
        formatter = axis.get_major_formatter()
        self.period_freq = None
        if type(formatter).__name__ == "TimeSeries_DateFormatter":
            self.period_freq = getattr(formatter, "freq", None)
        self.is_date = self.period_freq is not None or isinstance(
            converter, _DATE_CONVERTERS)
        # Strings plotted on the axis: position -> category name.
        self.is_category_axis = isinstance(
            converter, matplotlib.category.StrCategoryConverter)
        self.categories = {}
        if self.is_category_axis:
            mapping = getattr(getattr(axis, "units", None), "_mapping", {})
            self.categories = {int(v): str(k) for k, v in mapping.items()}
        self.ticks, self.tick_labels = _visible_ticks(axis)
        self.scale = self._scale()

    def _scale(self):
        if self.is_date:
            return "datetime"
        scale = self.axis.get_scale()
        if scale != "linear":
            return scale
        if self.is_category_axis or _looks_categorical(
                self.ticks, self.tick_labels):
            return "categorical"
        return "linear"

    def tick_values(self):
        """Tick positions in JSON: ISO strings on a date axis, else floats."""
        return [self.number_to_json(t, map_categories=False, utc_offset=True)
                for t in self.ticks]

    def number_to_json(self, number, map_categories=True, utc_offset=False):
        """A position on this axis (a float in axis units) as JSON. Dates
        are ISO strings, with "+00:00" for ticks as E2B sends them and
        without it for points, like the dates plotted as datetime objects."""
        number = float(number)
        if not math.isfinite(number):
            return None
        try:
            if self.period_freq is not None:
                return _period_iso(number, self.period_freq)
            if self.is_date:
                date = matplotlib.dates.num2date(number)
                if not utc_offset and not date.utcoffset():
                    date = date.replace(tzinfo=None)
                return date.isoformat()
        except (ValueError, OverflowError):
            return None
        if map_categories and number.is_integer():
            name = self.categories.get(int(number))
            if name is not None:
                return name
        return number

    def value_to_json(self, value):
        """A data value as plotted (number, str, date, datetime64, Period)."""
        if isinstance(value, (str, numpy.str_)):
            return str(value)
        if isinstance(value, (float, int, numpy.floating, numpy.integer)) \
                and not isinstance(value, (bool, numpy.timedelta64)):
            return self.number_to_json(value)
        return jsonsafe.to_json(value, strict=False, budget=16)

    def values_to_json(self, values):
        """A sequence of data values (masked ones are null); plain numbers on
        a numeric axis take a fast path."""
        array = numpy.ma.asanyarray(values).ravel()
        if array.dtype.kind in "fiu" and not (self.is_date or self.categories):
            floats = array.astype(float).filled(numpy.nan).tolist()
            return [v if math.isfinite(v) else None for v in floats]
        masked = numpy.ma.getmaskarray(array).tolist()
        data = numpy.asarray(array.data)
        # tolist() would turn datetime64 into bare integers: keep scalars.
        items = list(data) if data.dtype.kind in "Mm" else data.tolist()
        return [None if hidden else self.value_to_json(v)
                for v, hidden in zip(items, masked)]


def _converter(axis):
    getter = getattr(axis, "get_converter", None)  # matplotlib >= 3.10
    return getter() if getter is not None else getattr(axis, "converter", None)


def _period_iso(ordinal, freq):
    pandas = sys.modules["pandas"]
    period = pandas.Period(ordinal=int(round(ordinal)), freq=freq)
    return period.to_timestamp().isoformat()


def _visible_ticks(axis):
    """(positions, labels) of the major ticks inside the view, as drawn.

    The locator also returns ticks just outside the view; matplotlib formats
    the whole list (a FixedFormatter labels by index) and then drops those,
    and so does this."""
    positions = [float(t) for t in axis.get_majorticklocs()]
    try:
        labels = [str(s) for s in axis.get_major_formatter().format_ticks(
            positions)]
    except Exception:
        labels = [""] * len(positions)
    low, high = sorted(axis.get_view_interval())
    slack = (high - low) * 1e-9 if math.isfinite(high - low) else 0.0
    ticks = [(p, s) for p, s in zip(positions, labels)
             if low - slack <= p <= high + slack]
    return [p for p, _ in ticks], [s for _, s in ticks]


def _looks_categorical(ticks, labels):
    """E2B's rule: ticks at 0, 1, ..., n-1 labelled with other text than the
    numbers (e.g. set_xticks(range(3), ["a", "b", "c"]))."""
    if not ticks:
        return False
    return all(tick == i and label != str(i)
               for i, (tick, label) in enumerate(zip(ticks, labels)))


# E2B's rule for units: the text in the first " (...)" or "[...]" of an axis
# label ("Time (s)" -> "s", "Speed [km/h]" -> "km/h").
_UNIT = re.compile(r"\s\(([^)]*)\)|\[([^\]]*)\]")


def label_unit(label):
    """The unit in an axis label, or None."""
    match = _UNIT.search(label) if label else None
    if match is None:
        return None
    return match.group(1) or match.group(2) or None
