# A pandas DataFrame as the `e2b/data` display format, which E2B's SDK shows
# as `result.data`. E2B's template sends `DataFrame.to_dict(orient="list")`
# with Timestamps as ISO strings: {"column": [value of each row, ...], ...},
# the index left out. This gives the same shape, made JSON-safe: NaN, NaT and
# None become null, numpy numbers plain numbers, keys strings.
from . import jsonsafe

# A frame with more cells than this gets no e2b/data (the HTML and text forms
# are still shown): the whole frame would travel in one Jupyter message.
# Cells holding lists or dicts count their items too, up to MAX_VALUES.
MAX_CELLS = 1_000_000
MAX_VALUES = 4 * MAX_CELLS


def dataframe_to_data(frame):
    """{str(column): [JSON value per row]} for a DataFrame; None if it is
    larger than MAX_CELLS (jsonsafe.Unsupported past MAX_VALUES)."""
    rows, columns = frame.shape
    if rows * columns > MAX_CELLS:
        return None
    # items() rather than to_dict(): to_dict warns (into the user's output)
    # when column names repeat; like to_dict, the last repeated column wins.
    data = {_column_key(name): column.tolist()
            for name, column in frame.items()}
    return jsonsafe.to_json(data, strict=False, budget=MAX_VALUES)


def _column_key(name):
    if isinstance(name, str):
        return str.__str__(name)
    # Timestamps as ISO text like the cells; numbers and tuples (MultiIndex
    # columns) as their str().
    try:
        key = jsonsafe.to_json(name, strict=False, budget=64)
    except jsonsafe.Unsupported:
        key = None
    return key if isinstance(key, str) else str(name)
