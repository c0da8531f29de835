"""A seekable file over bytes held in parts (pure: the standard library only).

A snapshot blob is written to Redis in parts (service.storage.rebuilds), and a million
films' snapshot is about 1 GB: numpy reads it through this file a part at a time, or over
one buffer without the copy io.BytesIO makes of a bytearray.
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
