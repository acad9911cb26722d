# cove_display: the IPython extension that gives Cove's code-interpreter
# template the result formats @e2b/code-interpreter expects from E2B's
# template. Loaded into every Python kernel by /etc/ipython/
# ipython_kernel_config.py; cove-interpreter (port 49999) turns each display
# bundle into an E2B result, `e2b/data` into `data` and `e2b/chart` into
# `chart`.
#
#   e2b/data          a pandas DataFrame as {column: [values]}   dataframe.py
#   e2b/chart         a matplotlib Figure as an E2B chart         charts.py
#   application/json  also for dicts and lists, JSON-safe         formatters.py
#   Image.show()      displays a PIL image in the notebook        pil.py
#
# Nothing heavy is imported when the extension loads: the formatters are
# registered for pandas and matplotlib types by name, and their modules are
# imported the first time such an object is displayed.

from . import formatters, pil


def load_ipython_extension(ip):
    formatters.install(ip)
    pil.install()


def dataframe_to_data(frame):
    """The e2b/data dict of a DataFrame (raises on failure, unlike the
    formatter)."""
    from .dataframe import dataframe_to_data as convert
    return convert(frame)


def figure_to_chart(figure):
    """The e2b/chart dict of a Figure, None if it has nothing plotted (raises
    on failure, unlike the formatter)."""
    from .charts import figure_to_chart as convert
    return convert(figure)


def data_format(frame):
    """What the e2b/data formatter sends for `frame`: JSON-safe, and None
    instead of an exception."""
    return formatters.new_data_formatter()(frame)


def chart_format(figure):
    """What the e2b/chart formatter sends for `figure`."""
    return formatters.new_chart_formatter()(figure)
