# Turns Python values (numpy and pandas scalars, datetimes, NaN, nested
# containers) into plain JSON values: dict with str keys, list, str, int,
# float, bool, None. Display data travels to cove-interpreter as JSON inside
# Jupyter messages, and JSON has no NaN, no numpy types and no tuple keys.
#
# Two modes: `strict` (for application/json: anything without an obvious JSON
# form makes the whole value unsupported, so no json is sent, as E2B does when
# orjson refuses a value) and lenient (for DataFrame cells: such values become
# their str()). numpy and pandas are looked up in sys.modules, never imported.
import dataclasses
import datetime
import decimal
import enum
import math
import sys
import uuid

# Nested containers deeper than this are treated as unsupported (this also
# stops self-referencing lists and dicts).
MAX_DEPTH = 64


class Unsupported(Exception):
    """The value has no JSON form (strict mode), or exceeds the budget."""


class _Walk:
    def __init__(self, strict, budget):
        self.strict = strict
        self.budget = budget
        self.numpy = sys.modules.get("numpy")
        self.pandas = sys.modules.get("pandas")

    def spend(self, count):
        self.budget -= count
        if self.budget < 0:
            raise Unsupported("too many values")

    def other(self, value):
        if self.strict:
            raise Unsupported(type(value).__name__)
        try:
            return str(value)
        except Exception:
            return object.__repr__(value)


def to_json(value, strict=False, budget=1_000_000):
    """Returns `value` as plain JSON values; raises Unsupported if it has
    more than `budget` scalars, or (strict) a value without a JSON form."""
    return _clean(value, _Walk(strict, budget), 0)


def _clean(value, walk, depth):
    walk.spend(1)
    if value is None:
        return None
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)  # the text itself, also for str enums
    if isinstance(value, int):
        return _int(value, walk)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    scalar = _clean_special_scalar(value, walk)
    if scalar is not _NOT_SCALAR:
        return scalar
    if depth >= MAX_DEPTH:
        if walk.strict:
            raise Unsupported("nested too deeply")
        return walk.other(value)
    if isinstance(value, dict):
        return {_key(k, walk): _clean(v, walk, depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v, walk, depth + 1) for v in value]
    numpy = walk.numpy
    if numpy is not None and isinstance(value, numpy.ndarray):
        return _clean_array(value, numpy, walk, depth)
    if isinstance(value, (set, frozenset)) and not walk.strict:
        return [_clean(v, walk, depth + 1) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _clean(getattr(value, f.name), walk, depth + 1)
                for f in dataclasses.fields(value)}
    return walk.other(value)


def _clean_array(array, numpy, walk, depth):
    if array.size > walk.budget:
        raise Unsupported("too many values")
    if isinstance(array, numpy.ma.MaskedArray):
        if array.ndim == 0:
            return None if array.mask else _clean(array.item(), walk, depth)
        array = array.astype(object).filled(None)
    if array.ndim == 0:
        return _clean(array[()], walk, depth)
    # tolist() gives Python scalars, except that datetime64/timedelta64
    # would come back as bare integers: keep numpy scalars for those.
    items = list(array) if array.dtype.kind in "Mm" else array.tolist()
    return [_clean(v, walk, depth + 1) for v in items]


_NOT_SCALAR = object()


def _clean_special_scalar(value, walk):
    """numpy/pandas scalars, dates, decimals, enums; _NOT_SCALAR otherwise."""
    pandas = walk.pandas
    if pandas is not None and (value is pandas.NaT or value is pandas.NA):
        return None
    numpy = walk.numpy
    if numpy is not None and isinstance(value, numpy.generic):
        return _clean_numpy_scalar(value, numpy, walk)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if pandas is not None and isinstance(value, pandas.Period):
        return value.to_timestamp().isoformat()
    if isinstance(value, decimal.Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, enum.Enum):
        return _clean(value.value, walk, MAX_DEPTH - 1)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray)) and not walk.strict:
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, (bytes, bytearray, datetime.timedelta)):
        return walk.other(value)  # includes pandas.Timedelta
    return _NOT_SCALAR


def _clean_numpy_scalar(value, numpy, walk):
    if isinstance(value, numpy.bool_):
        return bool(value)
    if isinstance(value, numpy.timedelta64):  # before integer: a subclass
        return None if numpy.isnat(value) else walk.other(value)
    if isinstance(value, numpy.integer):
        return _int(int(value), walk)
    if isinstance(value, numpy.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, numpy.datetime64):
        return datetime64_to_iso(value, numpy)
    if isinstance(value, numpy.str_):
        return str(value)
    if isinstance(value, numpy.bytes_):
        return _clean(bytes(value), walk, MAX_DEPTH)
    return walk.other(value)


def _int(value, walk):
    """Integers outside int64 are unsupported (strict) or text: jansson,
    which cove-interpreter parses messages with, refuses them, and a message
    it cannot parse would lose the whole result."""
    value = int(value)
    if -2**63 <= value < 2**63:
        return value
    return walk.other(value)


def datetime64_to_iso(value, numpy):
    """'2023-09-01T00:00:00' (seconds, as E2B's charts send), None for NaT."""
    if numpy.isnat(value):
        return None
    # Keep sub-second digits only when there are any.
    seconds = value.astype("datetime64[s]")
    if seconds == value:
        return str(seconds)
    return numpy.datetime_as_string(value)


def _key(key, walk):
    """JSON object keys are strings; non-string keys become their JSON text
    (orjson's OPT_NON_STR_KEYS, which E2B uses: True -> "true", 1 -> "1")."""
    if isinstance(key, str):
        return str.__str__(key)
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    numpy = walk.numpy
    if isinstance(key, (int, float, decimal.Decimal)) or (
            numpy is not None and isinstance(key, numpy.number)):
        return str(key.item() if hasattr(key, "item") else key)
    if isinstance(key, (datetime.datetime, datetime.date, datetime.time)):
        return key.isoformat()
    if isinstance(key, (enum.Enum, uuid.UUID)):
        return str(key.value if isinstance(key, enum.Enum) else key)
    if walk.strict:
        raise Unsupported("key of type " + type(key).__name__)
    return str(key)
