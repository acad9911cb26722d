# Run by cove-interpreter in the default Python kernel before the template is
# snapshotted, so that every sandbox starts with these modules loaded and the
# first runCode does not pay for them (numpy, pandas and matplotlib take
# about a second to import; a first figure loads fonts, Agg and the inline
# backend). Prints nothing, displays nothing and leaves no names in the
# user's namespace (`pandas` is not defined until imported, as on E2B).


def _cove_warmup():
    import importlib
    import io
    import logging

    # The first import of matplotlib under a new HOME builds its font cache
    # and logs a warning saying so, which would reach the cell's stderr.
    matplotlib_log = logging.getLogger("matplotlib")
    level = matplotlib_log.level
    matplotlib_log.setLevel(logging.ERROR)
    try:
        for name in ("numpy", "pandas", "matplotlib", "matplotlib.pyplot",
                     "matplotlib.figure", "PIL.Image", "PIL.ImageShow",
                     "cove_display", "cove_display.charts",
                     "cove_display.dataframe"):
            importlib.import_module(name)
    finally:
        matplotlib_log.setLevel(level)
    import cove_display
    import matplotlib.figure
    import matplotlib.pyplot
    import pandas
    import PIL.Image

    # Loads the kernel's backend (matplotlib_inline); closed before the cell
    # ends, so the backend shows nothing.
    matplotlib.pyplot.close(matplotlib.pyplot.figure())

    # A figure made without pyplot is never shown by the inline backend.
    figure = matplotlib.figure.Figure(figsize=(2, 1))
    axes = figure.subplots()
    axes.plot([0, 1], [0, 1], label="warm")
    axes.set_title("Warm-up 準備")  # loads DejaVu Sans and Noto Sans CJK
    figure.savefig(io.BytesIO(), format="png")
    cove_display.chart_format(figure)

    frame = pandas.DataFrame({"a": [1, None], "b": ["x", "y"]})
    frame._repr_html_()
    cove_display.data_format(frame)
    PIL.Image.new("RGB", (1, 1))._repr_png_()


_cove_warmup()
del _cove_warmup
