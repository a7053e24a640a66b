"""Decoding YAML files in a second process, so a cold start uses both cores.

Decoding YAML (libyaml's events turned into values, `safe_yaml`) is more than half of
reading a large config directory, and it holds the interpreter lock; validation needs
the model classes of the main process. So at a first load of many files, a worker
process (`python -m xdscp.sources.decode_worker`, which imports only `safe_yaml`)
reads and decodes them in order and streams back each file's decoded documents —
plain JSON-shaped values, in `marshal` format — while the main process validates
what arrives and, whenever nothing has, decodes files itself from the other end of
the list, until the two meet (so neither waits for the other, whatever their speeds).

The worker decodes exactly as `safe_yaml.load_documents` does in process, under the
same `Limits`. A file it cannot handle (unreadable, not UTF-8, over the size limit) it
hands back undecoded, and the source reads it the usual way; if the worker cannot be
started or fails, every file it did not return is read in process. It only ever costs
a start, never a file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import marshal
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

from xdscp.sources.file_identity import FileIdentity, file_identity
from xdscp.sources.safe_yaml import Document, Limits, StreamError, load_documents

# fewer files than this are decoded in process: starting the worker (~0.1 s) would not pay
MIN_FILES = 500


@dataclass(frozen=True, slots=True)
class Decoded:
    """One file as the worker read it: what it read (the file's identity, and when, as
    `parse_cache` keeps it; the content's size and digest) and its documents, or the
    syntax error that stopped the whole file (`stream_error`)."""

    path: str
    identity: FileIdentity
    read_at_ns: int
    size: int
    digest: bytes
    documents: tuple[Document, ...]
    stream_error: str = ""


def digest_of(data: bytes) -> bytes:
    """The content digest the source compares files by (one definition for both sides)."""
    return hashlib.blake2b(data, digest_size=16).digest()


def _decode(path: str, limits: Limits) -> tuple[Any, ...] | None:
    """The wire form of one file's `Decoded`, or None to leave the file to the source."""
    read_at_ns = time.time_ns()
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        info = os.fstat(descriptor)
        if info.st_size > limits.file_bytes:
            return None
        with os.fdopen(descriptor, "rb", closefd=False) as stream:
            data = stream.read()
    except OSError:
        return None
    finally:
        os.close(descriptor)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    identity = (path, file_identity(info), read_at_ns, len(data), digest_of(data))
    try:
        documents = load_documents(text, limits)
    except StreamError as exc:
        return (*identity, (), str(exc))
    return (*identity, tuple((d.index, d.value, d.error, d.line) for d in documents), "")


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """The worker: one request (limits, paths), then one reply per path, in order, each
    a 4-byte length and a marshal frame."""
    limit_fields, paths = marshal.load(requests)
    limits = Limits(**limit_fields)
    for path in paths:
        frame = marshal.dumps((path, _decode(path, limits)))
        replies.write(len(frame).to_bytes(4, "little"))
        replies.write(frame)
    replies.flush()


class DecodeWorker:
    """The main process's side: started on some paths, whose results it takes as they
    come (`ready`), without blocking while it has work of its own."""

    command = (sys.executable, "-m", "xdscp.sources.decode_worker")

    def __init__(self, paths: list[str], limits: Limits) -> None:
        self.paths = paths
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # its own process group: a terminal's Ctrl-C reaches the source, which stops
            # it (`close`), not the worker, which would print a KeyboardInterrupt
            process_group=0,
        )
        request = marshal.dumps((dataclasses.asdict(limits), paths))
        # written from a thread: the pipe holds 64 KiB and the worker reads only once it
        # has started, while this process goes on decoding its own share meanwhile
        self._writer = threading.Thread(target=self._send, args=(request,), daemon=True)
        self._writer.start()
        assert self.process.stdout is not None
        self._replies = self.process.stdout.fileno()
        os.set_blocking(self._replies, False)
        self._buffer = bytearray()
        self._taken = 0  # how many of `paths` were returned by `ready`
        self._ended = False

    def _send(self, request: bytes) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        with contextlib.suppress(OSError), stdin:
            stdin.write(request)

    @property
    def taken(self) -> int:
        """How many of `paths`, from the first, `ready` has returned."""
        return self._taken

    def ready(self) -> list[tuple[str, Decoded | None]]:
        """(path, its decoded file or None: read it in process) for the files decoded
        since the last call, in order; never waits. Raises EOFError or ValueError when
        the worker failed."""
        self._receive()
        found = self._frames()
        if not found and self._ended and self._taken < len(self.paths):
            raise EOFError(f"the decode worker ended after {self._taken} of {len(self.paths)}")
        return found

    def _receive(self) -> None:
        """Whatever the worker has written so far (never blocks)."""
        while not self._ended:
            try:
                chunk = os.read(self._replies, 1 << 20)
            except BlockingIOError:
                return
            self._buffer += chunk
            self._ended = not chunk

    def _frames(self) -> list[tuple[str, Decoded | None]]:
        """The complete frames in the buffer (a 4-byte length and a marshal frame each;
        `marshal.load` on the stream itself would read it a few bytes at a time)."""
        found: list[tuple[str, Decoded | None]] = []
        buffer, offset = self._buffer, 0
        while len(buffer) - offset >= 4:
            size = int.from_bytes(buffer[offset : offset + 4], "little")
            if len(buffer) - offset - 4 < size:
                break
            path, wire = marshal.loads(buffer[offset + 4 : offset + 4 + size])
            offset += 4 + size
            if self._taken >= len(self.paths) or path != self.paths[self._taken]:
                raise ValueError(f"the decode worker answered for {path!r} out of turn")
            self._taken += 1
            found.append((path, None if wire is None else _decoded(path, wire)))
        del buffer[:offset]
        return found

    def close(self) -> None:
        """Stop the worker (done or not) and reap it, bounded. An unfinished one is killed
        first: a load abandoned right after it started must not wait for the request
        writer, blocked until a worker still starting reads its pipe."""
        if self.process.poll() is None:
            self.process.kill()
        self._writer.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def _decoded(path: str, wire: tuple[Any, ...]) -> Decoded:
    _, found, read_at_ns, size, digest, documents, stream_error = wire
    return Decoded(
        path,
        found,
        read_at_ns,
        size,
        digest,
        tuple(Document(*d) for d in documents),
        stream_error,
    )


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
