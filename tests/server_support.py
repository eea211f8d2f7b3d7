"""``lien serve`` as a real child process, for every test that needs a served node.

``Server`` starts ``lien serve --dir DIR`` on a free port (the console script next to the
test's own Python) and is ready when GET /api/v1/chain answers 200; it stops as an operator
would (``stop``: SIGINT, as Ctrl-C, which must end in a clean exit 0), with any signal
(``signal``: the exit status is returned) or with ``kill9``. Its output goes to
``DIR-serve.log`` next to the directory (or to ``log_file``), shown when something fails. Waiting is always a
condition polled against a bounded deadline (``poll``), never a fixed sleep.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")

#: the ``lien`` console script of the Python running the tests (the project's venv)
LIEN = str(Path(sys.executable).with_name("lien")) if Path(sys.executable).with_name(
    "lien").exists() else (shutil.which("lien") or "lien")
#: wide, colourless output: a message is never wrapped in the middle of an id
CLI_ENV = {**os.environ, "COLUMNS": "500", "NO_COLOR": "1", "TERM": "dumb"}
server_start_timeout_s = 30.0
server_stop_timeout_s = 20.0
#: what ``lien serve`` prints once the node has stopped after a signal
CLEAN_STOP = "Nœud arrêté proprement"


def poll(condition: Callable[[], T | None], timeout_s: float, what: str,
         interval_s: float = 0.02) -> T:
    """Call ``condition`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)  # between attempts, not a synchronisation


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``lien serve --dir DIR --port PORT`` as a child process (also a context manager)."""

    def __init__(self, path: Path, port: int | None = None, log_file: Path | None = None,
                 open_files: int | None = None, args: Sequence[str] = ()) -> None:
        """``open_files``: the child's RLIMIT_NOFILE (as ``ulimit -n``), else the test's;
        ``args``: more options of ``lien serve``."""
        self.path = path
        self.open_files = open_files
        self.args = tuple(args)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = f"{self.url}/api/v1"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log_file = log_file or path.parent / f"{path.name}-serve.log"

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout_s: float = server_start_timeout_s) -> None:
        assert self.proc is None, "already running"
        self.starts += 1
        with self.log_file.open("ab") as log:
            log.write(f"\n---- start {self.starts} ----\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [LIEN, "serve", "--dir", str(self.path), "--port", str(self.port), *self.args],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=CLI_ENV,
                preexec_fn=None if self.open_files is None else self.limit_open_files,
            )
        try:
            with httpx.Client(timeout=2.0) as client:
                poll(lambda: self._ready(client), timeout_s, f"lien serve on port {self.port}")
        except AssertionError:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            raise

    def limit_open_files(self) -> None:  # in the child, before exec
        assert self.open_files is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))

    def _ready(self, client: httpx.Client) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"lien serve exited with {self.proc.returncode}:\n{self.log()}")
        try:
            return client.get(f"{self.api}/chain").status_code == 200
        except httpx.TransportError:
            return False

    def signal(self, sig: int = signal.SIGINT, timeout_s: float = server_stop_timeout_s) -> int:
        """Send ``sig`` and wait for the process to end; its exit status."""
        assert self.proc is not None, "not running"
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"lien serve did not stop on {sig!r}:\n{self.log()}") from None
        finally:
            self.proc = None

    def stop(self) -> None:
        """SIGINT, as Ctrl-C: uvicorn shuts down, the node stops cleanly, exit status 0."""
        if self.proc is None:
            return
        code = self.signal(signal.SIGINT)
        log = self.log()
        assert code == 0, f"exit {code}:\n{log}"
        assert "Traceback" not in log and "halted" not in log, log

    def kill9(self) -> None:
        """SIGKILL: no shutdown handler, no flush, no goodbye."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        assert self.proc.returncode == -signal.SIGKILL
        self.proc = None

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")[-5000:]
