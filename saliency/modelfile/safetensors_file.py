"""Reading a safetensors file by hand: the header first, then only the tensors asked for.

The format is an 8-byte little-endian header length, a JSON header (each tensor's dtype,
shape and byte offsets, plus a "__metadata__" object of strings), then the raw bytes. Reading
it ourselves, rather than memory-mapping the whole file, means a hostile file costs what its
header costs until the header has been checked against the architecture: a tensor nobody
asked for is never read, and a 3 GB sparse file is not mapped into the address space.
"""

import math
from dataclasses import dataclass

import numpy as np

from .. import safe_json
from ..errors import ModelError

MAX_HEADER = 100 * 2**20  # the limit the safetensors library itself applies
# BF16 is read as float32: its bits are the top half of a float32's, so the conversion is exact.
DTYPES = {"F16": np.dtype("<f2"), "F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "BF16": np.dtype("<u2")}
FLOATS = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "BF16": np.float32}


@dataclass(frozen=True)
class Entry:
    stored: str  # safetensors dtype name
    shape: tuple
    start: int  # absolute byte offsets in the file
    end: int

    @property
    def dtype(self):
        return np.dtype(FLOATS[self.stored])


def read_table(f, size: int):
    """(metadata, {name: Entry}) from an open file of `size` bytes; reads the header only."""
    head = f.read(8)
    if len(head) < 8:
        raise ModelError("not a safetensors file (shorter than its 8-byte header length)")
    n = int.from_bytes(head, "little")
    if n > min(MAX_HEADER, size - 8):
        raise ModelError(f"not a safetensors file (header length {n} for a file of {size} bytes)")
    try:
        header = safe_json.loads(f.read(n), parse_constant=refuse_constant)  # nesting bounded
    except (UnicodeDecodeError, ValueError):
        raise ModelError("not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise ModelError("not a safetensors file (its header is not a JSON object)")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ModelError("not a safetensors file (its metadata is not an object of strings)")
    table = {name: _entry(name, spec, 8 + n, size) for name, spec in header.items()}
    check_layout(table, 8 + n, size)
    return metadata, table


def check_layout(table: dict, data_start: int, size: int) -> None:
    """The format wants the tensors' byte ranges disjoint and, together, the whole data section:
    two names over one range would let one edit change two tensors, and bytes nobody owns can
    hide anything. Sorted by offset, each range must start where the previous one ended."""
    at = data_start
    for name, entry in sorted(table.items(), key=lambda item: (item[1].start, item[1].end)):
        if entry.start != at:
            what = "overlaps the tensor before it" if entry.start < at else "leaves unowned bytes before it"
            raise ModelError(f"tensor {name}: its byte range {what}")
        at = entry.end
    if at != size:
        raise ModelError(f"the tensors end at byte {at} but the file has {size}: bytes after the last tensor")


def _entry(name, spec, data_start, size) -> Entry:
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data_offsets"}:
        raise ModelError(f"tensor {name}: malformed safetensors entry")
    dtype, shape, offsets = spec["dtype"], spec["shape"], spec["data_offsets"]
    if dtype not in DTYPES:
        raise ModelError(f"tensor {name} is stored as {str(dtype)[:16]}; saliency reads {', '.join(DTYPES)}")
    if not (_ints(shape) and _ints(offsets) and len(offsets) == 2 and 0 <= offsets[0] <= offsets[1]):
        raise ModelError(f"tensor {name}: malformed shape or offsets")
    start, end = data_start + offsets[0], data_start + offsets[1]
    if end > size or end - start != math.prod(shape) * DTYPES[dtype].itemsize:
        raise ModelError(f"tensor {name}: its bytes do not fit its shape or lie past the end of the file")
    return Entry(dtype, tuple(shape), start, end)


def read_tensor(f, entry: Entry, name: str) -> np.ndarray:
    """One tensor's bytes as a numpy array; refuses NaN and infinities (they would print as non-JSON)."""
    f.seek(entry.start)
    count = math.prod(entry.shape)
    array = np.fromfile(f, DTYPES[entry.stored], count)
    if array.size != count:
        raise ModelError(f"tensor {name}: the file is truncated")
    if entry.stored == "BF16":
        array = (array.astype(np.uint32) << 16).view(np.float32)
    array = array.astype(FLOATS[entry.stored], copy=False).reshape(entry.shape)  # native byte order
    if not np.isfinite(array).all():
        raise ModelError(f"tensor {name} holds NaN or infinite values")
    return array


def _ints(values) -> bool:
    return isinstance(values, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                            for v in values)


def refuse_constant(name):
    raise ValueError(f"{name} is not JSON")
