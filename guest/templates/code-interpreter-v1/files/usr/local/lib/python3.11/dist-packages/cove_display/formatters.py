# IPython display formatters for E2B's result fields: `e2b/data` (pandas
# DataFrames, E2B's `result.data`), `e2b/chart` (matplotlib Figures,
# `result.chart`) and a replacement `application/json` formatter that, as
# E2B's template does, also gives plain dicts and lists a JSON form
# (`result.json`), made JSON-safe (numpy values, NaN as null, non-string keys
# as text).
#
# A formatter never raises: IPython's own formatters print a traceback into
# the cell's output (an `error` message) when a printer fails, which would
# turn a good cell into a failed one. Here a failure only means the format is
# left out of the bundle; the reason is logged at debug level.
import logging
import sys

from IPython.core.formatters import BaseFormatter, JSONFormatter
from IPython.utils.dir2 import get_real_method
from traitlets import ObjectName, Unicode

from . import jsonsafe

log = logging.getLogger("cove_display")

# A dict or list shown as the cell's result with more scalars than this gets
# no JSON form (its text form is still there).
MAX_JSON_VALUES = 1_000_000


class SafeDictFormatter(BaseFormatter):
    """A formatter whose printers return a dict (or None for "no such
    format"); exceptions and other return types become None."""

    _return_type = (dict,)

    def __call__(self, obj):
        if not self.enabled:
            return None
        try:
            result = self.compute(obj)
        except Exception:
            log.debug("%s formatter failed on %s", self.format_type,
                      type(obj).__name__, exc_info=True)
            return None
        return result if isinstance(result, dict) else None

    def compute(self, obj):
        try:
            printer = self.lookup(obj)
        except KeyError:
            method = get_real_method(obj, self.print_method)
            return method() if method is not None else None
        return printer(obj)


class DataFormatter(SafeDictFormatter):
    format_type = Unicode("e2b/data")
    print_method = ObjectName("_repr_e2b_data_")


class ChartFormatter(SafeDictFormatter):
    """Figures are recognised here rather than by for_type_by_name: when
    matplotlib's inline backend starts, IPython's select_figure_formats()
    removes every printer for Figure from every formatter (E2B's template
    works around it the same way)."""

    format_type = Unicode("e2b/chart")
    print_method = ObjectName("_repr_e2b_chart_")

    def compute(self, obj):
        figure = sys.modules.get("matplotlib.figure")  # never imported here
        if figure is not None and isinstance(obj, figure.Figure):
            return figure_printer(obj)
        return super().compute(obj)


class PlainJSONFormatter(JSONFormatter):
    """application/json for dicts and lists too, with E2B's metadata
    {"expanded": true}; other objects as IPython does (_repr_json_)."""

    def __call__(self, obj):
        if not isinstance(obj, (dict, list)) or \
                get_real_method(obj, self.print_method) is not None:
            return super().__call__(obj)
        if not self.enabled:
            return None
        try:
            data = jsonsafe.to_json(obj, strict=True, budget=MAX_JSON_VALUES)
        except Exception:  # Unsupported, or anything a __str__ raised
            return None
        return data, {"expanded": True}


def dataframe_printer(frame):
    from .dataframe import dataframe_to_data
    return dataframe_to_data(frame)


def figure_printer(figure):
    from .charts import figure_to_chart
    chart = figure_to_chart(figure)
    if chart is None:
        return None
    # Charts are built from JSON values already; this is the last guard
    # against a NaN or numpy value reaching the message.
    return jsonsafe.to_json(chart, strict=False, budget=10_000_000)


def new_data_formatter(parent=None):
    formatter = DataFormatter(parent=parent)
    formatter.for_type_by_name("pandas.core.frame", "DataFrame",
                               dataframe_printer)
    return formatter


def new_chart_formatter(parent=None):
    return ChartFormatter(parent=parent)


def install(shell):
    """Adds the formatters to the shell's DisplayFormatter (again on
    %reload_ext: the new instances replace the old)."""
    display = shell.display_formatter
    old_json = display.formatters.get("application/json")
    new_json = PlainJSONFormatter(parent=display)
    if old_json is not None:
        # Keep printers others registered on the formatter being replaced.
        new_json.singleton_printers.update(old_json.singleton_printers)
        new_json.type_printers.update(old_json.type_printers)
        new_json.deferred_printers.update(old_json.deferred_printers)
    display.formatters["e2b/data"] = new_data_formatter(display)
    display.formatters["e2b/chart"] = new_chart_formatter(display)
    display.formatters["application/json"] = new_json
