"""A threaded HTTP server on 127.0.0.1 serving files in the Hugging Face hub's URL layout
(`/datasets/<repo>/resolve/<revision>/<file>`, with the hub's commit and ETag headers) and
GitHub's release layout (`/<owner>/<repo>/releases/download/<tag>/<asset>`), honouring Range
requests; a path can be set to cut its first response mid-file. Every request is recorded."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"  # what `main` resolves to on this hub
HUB = re.compile(r"^/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
RELEASE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/releases/download/(?P<tag>[^/]+)/(?P<asset>[^/]+)$")


@dataclass
class Served:
    """What the server holds and what it was asked."""

    hub: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (repo, file) -> bytes
    releases: dict[tuple[str, str, str], bytes] = field(default_factory=dict)  # (repo, tag, asset)
    lfs: bool = True  # hub files carry their sha256 as ETag, as LFS files on the hub do
    cut: set[str] = field(default_factory=set)  # paths whose next GET stops half-way
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range
    base: str = ""

    def get_count(self, fragment: str) -> int:
        """How many GET requests asked for a path containing `fragment`."""
        return sum(1 for m, p, _ in self.requests if m == "GET" and fragment in p)


def _handler(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet test output
            pass

        def _lookup(self) -> tuple[bytes | None, dict[str, str]]:
            hub, release = HUB.match(self.path), RELEASE.match(self.path)
            if hub and hub["rev"] in ("main", COMMIT):
                body = served.hub.get((hub["repo"], hub["file"]))
                digest = hashlib.sha256(body or b"").hexdigest()
                etag = digest if served.lfs else "w-" + digest[:20]
                return body, {"X-Repo-Commit": COMMIT, "ETag": f'"{etag}"'}
            if release:
                return served.releases.get((release["repo"], release["tag"], release["asset"])), {}
            return None, {}

        def _serve(self, send_body: bool) -> None:
            wanted = self.headers.get("Range")
            served.requests.append((self.command, self.path, wanted))
            body, headers = self._lookup()
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = int(wanted.split("=")[1].split("-")[0]) if wanted else 0
            if start >= len(body) and wanted:
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            part = body[start:]
            self.send_response(206 if wanted else 200)
            if wanted:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(part)))
            self.end_headers()
            if not send_body:
                return
            if self.path in served.cut:  # a connection that drops half-way through the file
                served.cut.discard(self.path)
                self.wfile.write(part[: len(part) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(part)

        def do_HEAD(self) -> None:
            self._serve(send_body=False)

        def do_GET(self) -> None:
            self._serve(send_body=True)

    return Handler


@contextmanager
def serving(served: Served) -> Iterator[Served]:
    """Run the server on a free port of 127.0.0.1 for the block; served.base is its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served.base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
