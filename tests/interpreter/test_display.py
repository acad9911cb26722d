#!/usr/bin/env python3
# Checks cove_display, the IPython extension of the code-interpreter template
# (guest/templates/code-interpreter-v1/files/usr/local/lib/python3.11/
# dist-packages/cove_display), without a kernel: real matplotlib figures and
# pandas DataFrames go through its e2b/chart and e2b/data conversions, the
# result must survive a strict json.dumps (no NaN), and the values plotted
# must come back in E2B's shapes. Runs inside the template's root file system:
#   chroot TREE python3 /path/to/test_display.py
# Exit status 0 when every check passes; an assertion names the first failure.
import datetime
import json
import subprocess
import sys

import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import cove_display  # noqa: E402
from cove_display import formatters, pil  # noqa: E402


def roundtrip(value):
    """What cove-interpreter receives: strict JSON, parsed back."""
    return json.loads(json.dumps(value, allow_nan=False))


def chart_of(figure):
    chart = cove_display.figure_to_chart(figure)
    assert chart == cove_display.chart_format(figure), "formatter differs"
    plt.close(figure)
    return roundtrip(chart)


def close(a, b):
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def check_line():
    x = np.linspace(0, 2, 5)
    figure, ax = plt.subplots()
    ax.plot(x, x ** 2, label="square")
    ax.plot(x, -x)
    ax.set_title("Two series")
    ax.set_xlabel("Time (s)")
    ax.set_ylabel("Voltage [mV]")
    chart = chart_of(figure)
    assert chart["type"] == "line", chart["type"]
    assert chart["title"] == "Two series", chart["title"]
    assert (chart["x_label"], chart["y_label"]) == ("Time (s)", "Voltage [mV]")
    assert (chart["x_unit"], chart["y_unit"]) == ("s", "mV"), chart
    assert chart["x_scale"] == chart["y_scale"] == "linear"
    assert len(chart["x_ticks"]) == len(chart["x_tick_labels"]) > 0
    assert all(isinstance(t, float) for t in chart["x_ticks"])
    assert all(close(float(label), tick) for tick, label in
               zip(chart["x_ticks"], chart["x_tick_labels"])), chart
    first, second = chart["elements"]
    assert first["label"] == "square" and second["label"] == "Line 1", \
        (first["label"], second["label"])
    assert first["points"] == [[v, v ** 2] for v in x.tolist()], first
    assert second["points"] == [[v, -v] for v in x.tolist()], second


def check_scatter():
    figure, ax = plt.subplots()
    ax.scatter([1, 2, 3], [4.5, 5.5, float("nan")], label="Dataset 1")
    ax.scatter([7], [8], label="Dataset 2")
    chart = chart_of(figure)
    assert chart["type"] == "scatter", chart["type"]
    assert chart["title"] is None and chart["x_label"] is None
    one, two = chart["elements"]
    assert one["label"] == "Dataset 1" and two["label"] == "Dataset 2"
    assert one["points"] == [[1.0, 4.5], [2.0, 5.5], [3.0, None]], one
    assert two["points"] == [[7.0, 8.0]], two


def check_grouped_bar():
    classes = ["A", "B", "C"]
    positions = np.arange(3)
    figure, ax = plt.subplots()
    ax.bar(positions - 0.2, [10, 20, 30], width=0.4, label="2023")
    ax.bar(positions + 0.2, [np.int64(15), 25, 35], width=0.4, label="2024")
    ax.set_xticks(positions, classes)
    ax.set_xlabel("Class")
    ax.set_ylabel("Sales (EUR)")
    ax.set_title("Sales")
    chart = chart_of(figure)
    assert chart["type"] == "bar", chart["type"]
    assert chart["y_unit"] == "EUR" and chart["x_label"] == "Class", chart
    got = [(e["label"], e["group"], e["value"]) for e in chart["elements"]]
    want = [(c, "2023", v) for c, v in zip(classes, (10, 20, 30))] + \
        [(c, "2024", v) for c, v in zip(classes, (15, 25, 35))]
    assert got == want, got

    # E2B's documented example: categories on x, one labelled set.
    figure = plt.figure()
    plt.bar(["Author A", "Author B"], [100, 200], label="Books Sold")
    chart = chart_of(figure)
    assert [(e["label"], e["group"], e["value"]) for e in chart["elements"]] \
        == [("Author A", "Books Sold", 100), ("Author B", "Books Sold", 200)]

    # Horizontal bars: the category axis is still called x.
    figure, ax = plt.subplots()
    ax.barh(["x", "y"], [3, 4])
    ax.set_xlabel("Count")
    ax.set_ylabel("Letter")
    chart = chart_of(figure)
    assert (chart["x_label"], chart["y_label"]) == ("Letter", "Count"), chart
    assert [(e["label"], e["group"], e["value"]) for e in chart["elements"]] \
        == [("x", "Group 0", 3), ("y", "Group 0", 4)], chart["elements"]


def check_pie():
    figure, ax = plt.subplots()
    ax.pie([90, 10], labels=["No", "No, in blue"], autopct="%1.1f%%",
           startangle=90)
    ax.set_title("Will I wake up early tomorrow?")
    chart = chart_of(figure)
    assert chart["type"] == "pie" and chart["title"].startswith("Will I")
    assert chart["elements"] == [
        {"label": "No", "angle": 324.0, "radius": 1.0},
        {"label": "No, in blue", "angle": 36.0, "radius": 1.0}], chart


def check_boxplot():
    data = [[1, 2, 3, 4, 5, 30], [10, 12, 14, 16, 18]]
    for patch_artist in (False, True):
        figure, ax = plt.subplots()
        ax.boxplot(data, labels=["first", "second"], patch_artist=patch_artist)
        ax.set_ylabel("Score")
        chart = chart_of(figure)
        assert chart["type"] == "box_and_whisker", (patch_artist, chart)
        first, second = chart["elements"]
        q1, median, q3 = np.percentile(data[0], [25, 50, 75])
        assert first["label"] == "first" and second["label"] == "second"
        assert close(first["first_quartile"], q1) and \
            close(first["median"], median) and \
            close(first["third_quartile"], q3), first
        assert first["min"] == 1 and first["max"] == 5, first
        assert first["outliers"] == [30], first
        assert second["min"] == 10 and second["max"] == 18 and \
            second["median"] == 14 and second["outliers"] == [], second

    # The upper whisker ends on the box (its cap lies on q3), a notch, a mean
    # marker outside the box: the median is still 3, the one outlier 100.
    for notch in (False, True):
        figure, ax = plt.subplots()
        ax.boxplot([[1, 2, 3, 4, 100]], notch=notch, showmeans=True)
        box, = chart_of(figure)["elements"]
        assert (box["min"], box["first_quartile"], box["median"],
                box["third_quartile"], box["max"], box["outliers"]) == \
            (1, 2, 3, 4, 4, [100]), (notch, box)

    figure, ax = plt.subplots()
    ax.boxplot(data, vert=False, labels=["first", "second"])
    ax.set_xlabel("Score")
    chart = chart_of(figure)
    assert chart["type"] == "box_and_whisker" and chart["y_label"] == "Score"
    assert [e["label"] for e in chart["elements"]] == ["first", "second"]
    assert chart["elements"][1]["median"] == 14, chart["elements"]


def check_two_axes():
    figure, (left, right) = plt.subplots(1, 2)
    figure.suptitle("Overview")
    left.plot([1, 2, 3], [3, 2, 1])
    left.set_title("Falling")
    right.bar(["p", "q"], [5, 6])
    chart = chart_of(figure)
    assert chart["type"] == "superchart" and chart["title"] == "Overview"
    line, bar = chart["elements"]
    assert line["type"] == "line" and line["title"] == "Falling"
    assert line["elements"][0]["points"] == [[1, 3], [2, 2], [3, 1]], line
    assert bar["type"] == "bar" and \
        [e["value"] for e in bar["elements"]] == [5, 6], bar


def check_dates():
    days = [datetime.date(2024, 3, 1) + datetime.timedelta(days=i)
            for i in range(4)]
    figure, ax = plt.subplots()
    ax.plot(days, [1, 2, 4, 8], label="doubling")
    ax.plot(np.array(days, dtype="datetime64[D]"), [0, 1, 0, 1])
    chart = chart_of(figure)
    assert chart["x_scale"] == "datetime" and chart["y_scale"] == "linear"
    assert all(isinstance(t, str) for t in chart["x_ticks"]), chart["x_ticks"]
    datetime.datetime.fromisoformat(chart["x_ticks"][0])
    first, second = chart["elements"]
    assert first["points"][0] == ["2024-03-01", 1], first
    assert second["points"][3] == ["2024-03-04T00:00:00", 1], second

    # pandas' own date plotting (Period ordinals on the axis).
    frame = pd.DataFrame({"v": [1.0, 2.0, 3.0]},
                         index=pd.date_range("2024-01-01", periods=3))
    ax = frame.plot()
    chart = chart_of(ax.figure)
    assert chart["x_scale"] == "datetime", chart["x_scale"]
    assert chart["elements"][0]["points"] == [
        ["2024-01-01T00:00:00", 1], ["2024-01-02T00:00:00", 2],
        ["2024-01-03T00:00:00", 3]], chart["elements"]

    # Categories on x: strings in the points, categorical scale.
    figure, ax = plt.subplots()
    ax.plot(["mon", "tue"], [3, 4])
    chart = chart_of(figure)
    assert chart["x_scale"] == "categorical"
    assert chart["elements"][0]["points"] == [["mon", 3], ["tue", 4]]


def check_edge_cases():
    figure = plt.figure()  # nothing plotted: no chart, as E2B
    assert cove_display.chart_format(figure) is None
    figure, ax = plt.subplots()
    ax.imshow(np.eye(3))
    figure.colorbar(ax.images[0])  # the colorbar is no second chart
    chart = chart_of(figure)
    assert chart == {"type": "unknown", "title": None, "elements": []}, chart

    broken, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    broken.get_axes = lambda: 1 / 0
    assert cove_display.chart_format(broken) is None, "must not raise"
    plt.close(broken)

    class Bad:
        def _repr_e2b_data_(self):
            raise RuntimeError("boom")
    assert formatters.new_data_formatter()(Bad()) is None


def check_dataframe():
    frame = pd.DataFrame({
        "int": [1, 2, 3],
        "float": [1.5, np.nan, np.inf],
        "str": ["a", None, "c"],
        "when": pd.to_datetime(["2024-01-02", None, "2024-01-03 04:05:06"]),
        "nullable": pd.array([1, None, 3], dtype="Int64"),
        7: [np.int64(1), np.float32(2.5), np.bool_(True)],
        "big": [2 ** 70, -1, 0],
        "lists": [[1, np.nan], {"k": (2, 3)}, list(range(50))],
    })
    data = roundtrip(cove_display.dataframe_to_data(frame))
    assert data == cove_display.data_format(frame), "formatter differs"
    assert list(data) == ["int", "float", "str", "when", "nullable", "7",
                          "big", "lists"], list(data)
    assert data["lists"] == [[1, None], {"k": [2, 3]}, list(range(50))]
    assert data["big"] == [str(2 ** 70), -1, 0], data["big"]
    assert data["int"] == [1, 2, 3] and \
        all(type(v) is int for v in data["int"]), data["int"]
    assert data["float"] == [1.5, None, None], data["float"]
    assert data["str"] == ["a", None, "c"], data["str"]
    assert data["when"] == ["2024-01-02T00:00:00", None,
                            "2024-01-03T04:05:06"], data["when"]
    assert data["nullable"] == [1, None, 3], data["nullable"]
    assert data["7"] == [1, 2.5, True], data["7"]
    assert cove_display.data_format(pd.DataFrame()) == {}


def check_json_formatter():
    json_format = formatters.PlainJSONFormatter()
    data, metadata = json_format({"a": np.int64(1), 2: [np.nan, (1, 2)],
                                  "t": datetime.date(2024, 1, 2)})
    assert roundtrip(data) == {"a": 1, "2": [None, [1, 2]],
                               "t": "2024-01-02"}, data
    assert metadata == {"expanded": True}
    assert json_format([1, {2, 3}]) is None  # a set: no JSON form
    assert json_format([2 ** 64]) is None  # beyond int64: no JSON form
    assert json_format("text") is None


def check_pil_show():
    shown = []
    import IPython.display
    original = IPython.display.display
    IPython.display.display = shown.append
    try:
        pil.install()
        from PIL import Image
        image = Image.new("RGB", (4, 3), "red")
        image.show()
        Image.new("CMYK", (2, 2)).show()
    finally:
        IPython.display.display = original
    assert len(shown) == 2 and shown[0] is image, shown
    assert shown[1].mode == "RGB", shown[1].mode
    png = image._repr_png_()
    assert png.startswith(b"\x89PNG"), "PIL images still display as PNG"


def check_lazy_import():
    """Loading the extension imports neither pandas, matplotlib nor PIL."""
    code = ("import sys, cove_display\n"
            "from IPython.core.formatters import DisplayFormatter\n"
            "class Shell: display_formatter = DisplayFormatter()\n"
            "cove_display.load_ipython_extension(Shell())\n"
            "heavy = {'pandas', 'matplotlib', 'PIL', 'numpy'}\n"
            "heavy &= set(sys.modules)\n"
            "assert not heavy, heavy\n")
    result = subprocess.run([sys.executable, "-c", code],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def check_bundles():
    """The formatters in a DisplayFormatter, as in a kernel: a figure's
    bundle has PNG and chart, a DataFrame's HTML and data. The inline
    backend's select_figure_formats() (run when a kernel first uses pyplot)
    removes Figure printers from every formatter: the chart must survive."""
    from IPython.core.formatters import DisplayFormatter
    from IPython.core.pylabtools import select_figure_formats

    class Shell:  # what the extension and select_figure_formats use
        display_formatter = DisplayFormatter()

    shell = Shell()
    cove_display.load_ipython_extension(shell)
    select_figure_formats(shell, {"png"})
    figure, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    bundle, _ = shell.display_formatter.format(figure)
    plt.close(figure)
    assert {"image/png", "e2b/chart", "text/plain"} <= set(bundle), \
        sorted(bundle)
    assert bundle["e2b/chart"]["elements"][0]["points"] == [[1, 3], [2, 4]]
    bundle, _ = shell.display_formatter.format(pd.DataFrame({"a": [1]}))
    assert {"text/html", "e2b/data"} <= set(bundle), sorted(bundle)
    assert bundle["e2b/data"] == {"a": [1]}
    bundle, metadata = shell.display_formatter.format({"k": np.float64(2)})
    assert bundle["application/json"] == {"k": 2.0}, bundle
    assert metadata["application/json"] == {"expanded": True}, metadata
    bundle, _ = shell.display_formatter.format(42)
    assert set(bundle) == {"text/plain"}, sorted(bundle)


def main():
    checks = [check_lazy_import, check_line, check_scatter,
              check_grouped_bar, check_pie, check_boxplot, check_two_axes,
              check_dates, check_edge_cases, check_dataframe,
              check_json_formatter, check_bundles, check_pil_show]
    for check in checks:
        check()
        print("ok", check.__name__[len("check_"):])
    print("all", len(checks), "checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
