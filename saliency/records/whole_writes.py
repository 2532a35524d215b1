"""Writing a record's text so that a signal cannot cut it: all of its bytes, or none of them.

A write to a slow pipe that a signal interrupts returns having written part of its bytes.
CPython's buffered writer then drops the rest of its buffer, even when the signal's handler
does not raise (seen with Ctrl-C into `| (sleep 5; cat)`: a 4,512-byte line written as
4,096 bytes, the other 416 never, and `flush()` reporting success). So a record's bytes go
to the file descriptor here, in a loop that writes the rest after a partial write. Callers
defer Ctrl-C around it (batch.ctrl_c_after_write), so the loop is not left half way.
"""

import io
import os


def write_whole(stream, text: str) -> None:
    """Write `text` to `stream` completely: through its file descriptor when it has one
    (after flushing what the stream holds, so the order is kept), else with stream.write."""
    try:
        fd = stream.fileno()
    except (AttributeError, io.UnsupportedOperation, ValueError):
        stream.write(text)  # an in-memory stream: no partial writes
        return
    stream.flush()
    data = memoryview(text.encode(getattr(stream, "encoding", None) or "utf-8"))
    while data:
        written = os.write(fd, data)  # retried by Python on EINTR before any byte is written (PEP 475)
        data = data[written:]
