"""Files over bytes held in parts (pure: the standard library only).

A snapshot blob is written to Redis in parts (service.storage.rebuilds), and a million
films' snapshot is about 1 GB: numpy writes it through PartsWriter a part at a time, and
reads it through PartsReader a part at a time, or over one buffer without the copy
io.BytesIO makes of a bytearray.
"""

import io
from collections.abc import Callable


class PartsReader(io.RawIOBase):
    """Bytes in parts, read as one seekable file: every part but the last holds part_size
    bytes, so an offset names its part; part(n) gives part n. Reads never come up short
    before the end, whatever the parts."""

    def __init__(self, part: Callable[[int], bytes], part_size: int, length: int):
        self.part, self.part_size, self.length, self.at = part, max(part_size, 1), length, 0

    @classmethod
    def over(cls, buffer) -> "PartsReader":
        """A reader over one buffer (bytes, a bytearray, a memoryview), not copied."""
        view = memoryview(buffer).cast("B")
        return cls(lambda n: view, len(view), len(view))

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, into) -> int:
        into, done = memoryview(into).cast("B"), 0
        while done < len(into) and self.at < self.length:
            n, offset = divmod(self.at, self.part_size)
            chunk = memoryview(self.part(n))[offset : offset + len(into) - done]
            into[done : done + len(chunk)] = chunk
            done += len(chunk)
            self.at += len(chunk)
        return done

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.at = offset + (0, self.at, self.length)[whence]
        return self.at

    def tell(self) -> int:
        return self.at


class PartsWriter(io.RawIOBase):
    """A write-only stream that hands its bytes on in parts of part_size (the last may be
    shorter; one empty part for no bytes at all), so that the whole is never held at once.
    Not seekable: zipfile (np.savez) then writes each member's sizes after its data."""

    def __init__(self, emit: Callable[[bytes], None], part_size: int):
        self.emit, self.part_size = emit, max(part_size, 1)
        self.buffer, self.parts = bytearray(), 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            take = min(self.part_size - len(self.buffer), len(view) - done)
            self.buffer += view[done : done + take]
            done += take
            if len(self.buffer) == self.part_size:
                self._emit()
        return done

    def _emit(self) -> None:
        self.emit(bytes(self.buffer))
        self.buffer.clear()
        self.parts += 1

    def close(self) -> None:
        if not self.closed and (self.buffer or not self.parts):
            self._emit()
        super().close()
