"""What `stat` says about a file, and when that may stand for its content (see
`parse_cache`). Its own small module: the decode worker process imports it too."""

from __future__ import annotations

import os

# (st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns) of a file when it was read
FileIdentity = tuple[int, int, int, int, int]

# a file whose ctime or mtime was younger than this when it was read is checked by
# content at the next start: a same-size write within the same (coarse) timestamp tick
# as the read would leave its identity unchanged
RACY_SECONDS = 2.0


def file_identity(info: os.stat_result) -> FileIdentity:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def vouched(found: FileIdentity, read_at_ns: int) -> FileIdentity | None:
    """`found` (a file's identity when read) if it may later stand for the content read
    at `read_at_ns` (wall clock, taken before the read); None when the file was too
    young then."""
    oldest_trusted = read_at_ns - int(RACY_SECONDS * 1e9)
    _, _, _, mtime_ns, ctime_ns = found
    return None if ctime_ns >= oldest_trusted or mtime_ns >= oldest_trusted else found
