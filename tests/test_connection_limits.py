"""Connection limits of ``lien serve`` (issue 6): no idle, slow or huge client makes it unreachable.

Real ``lien serve`` processes started under ``ulimit -n 1024`` (``Server(open_files=1024)``),
spoken to over raw sockets as an attacker would. Before the limits, 1,100 idle connections there
made every other client's connection reset, with nothing logged. Waiting is a condition polled
against a deadline, or a blocking read whose timeout is the test's bound; the figures of the
attack are printed (``pytest -s``) as ``FIGURES connection_limits {...}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import socket
import statistics
import subprocess
import time
import tomllib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import StreamingResponse
from api_support import anyio_backend  # noqa: F401  (the fixture, for pytest)
from api_support import api_env, served
from cli_support import FOUNDER_PASSWORD
from server_support import CLI_ENV, LIEN, Server, poll

from lien.node.setup import init_node
from lien.web import ApiSettings
from lien.web.connections import FDS_RESERVED, PIPELINED_REQUESTS_MAX, HttpLimits
from lien.web.errors import API_CODES

pytestmark = pytest.mark.slow

OPEN_FILES = 1024
ATTACK = 1100
DOCS = Path(__file__).resolve().parents[1] / "docs"
#: the node most tests share: short deadlines keep the suite fast
SHORT = {"header_timeout_s": 1.0, "body_timeout_s": 1.0, "idle_timeout_s": 1.0,
         "send_timeout_s": 1.0, "streams_max": 2, "header_bytes_max": 4096, "url_bytes_max": 1024,
         "log_interval_s": 1.0}
#: how late after its deadline a connection may be closed (a loaded machine's scheduling)
LATE_S = 3.0


def make_node(path: Path, http: dict[str, Any]) -> tuple[Server, dict[str, Any]]:
    created = init_node(path, password=FOUNDER_PASSWORD)
    lines = [f"{key} = {value!r}" for key, value in http.items()]
    with (path / "node.toml").open("a") as f:
        f.write("\n[http]\n" + "\n".join(lines) + "\n")
    return Server(path, open_files=OPEN_FILES), created


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, Any]]]:
    server, created = make_node(tmp_path_factory.mktemp("limits") / "node", SHORT)
    with server:
        yield server, created


# -- raw HTTP ---------------------------------------------------------------------------------
def connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def read_until_closed(sock: socket.socket, timeout_s: float) -> tuple[bytes, float]:
    """All the server sends until it closes the connection, and when (``time.monotonic``); a
    connection still open after ``timeout_s`` of silence fails the test."""
    sock.settimeout(timeout_s)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        except TimeoutError:
            raise AssertionError(f"the server kept the connection open {timeout_s} s: "
                                 f"{data[:200]!r}") from None
        if not chunk:
            return data, time.monotonic()
        data += chunk


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response with a Content-Length, leaving the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, headers = parse_head(head)
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return status, headers, body


def read_responses(sock: socket.socket, n: int) -> list[tuple[int, bytes]]:
    """``n`` responses with a Content-Length, read from one stream (pipelined answers arrive
    together), leaving the connection open: (status, body) each."""
    data, responses = b"", []
    while len(responses) < n:
        head, found, rest = data.partition(b"\r\n\r\n")
        if found:
            status, headers = parse_head(head)
            length = int(headers["content-length"])
            if len(rest) >= length:
                responses.append((status, rest[:length]))
                data = rest[length:]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"closed after {len(responses)} responses: {data!r}"
        data += chunk
    assert data == b"", data
    return responses


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), {k.lower(): v for k, v in headers.items()}


def refusal(data: bytes) -> tuple[int, dict[str, str], str]:
    """An answer sent just before the server closed: (status, headers, error code)."""
    head, _, body = data.partition(b"\r\n\r\n")
    status, headers = parse_head(head)
    assert headers["connection"] == "close"
    return status, headers, json.loads(body)["error"]["code"]


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: lien\r\n\r\n".encode()


def logged(server: Server, text: str) -> None:
    poll(lambda: text in server.log_file.read_text(errors="replace"), 10, f"{text!r} logged")


def closed_by_server(sock: socket.socket) -> bool:
    """For a non-blocking socket: did the server close it (FIN or reset)?"""
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


# -- the attack ---------------------------------------------------------------------------------
def test_1100_idle_and_slow_connections_under_ulimit_1024_leave_the_node_answering(
        tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = ATTACK + 500
    if soft < needed:  # this test's own process holds the attack's 1,100 sockets
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * needed), hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= needed, "ulimit -Hn too low"
    # long deadlines: every attacking connection stays as long as the test, none times out
    server, created = make_node(tmp_path / "node", {"header_timeout_s": 120.0,
                                                    "log_interval_s": 1.0})
    connections_max = HttpLimits.for_open_files(OPEN_FILES).connections_max
    attack: list[socket.socket] = []
    with server:
        assert server.proc is not None
        started = time.monotonic()
        for n in range(ATTACK):
            sock = connect(server)
            if n % 10 == 0:  # a slowloris: a head that never ends
                sock.sendall(b"GET /api/v1/chain HTTP/1.1\r\nHost: lien\r\nX-Slow: ")
            sock.setblocking(False)
            attack.append(sock)
        opened_s = time.monotonic() - started
        try:
            peak_fds = 0
            latencies = []
            for _ in range(20):  # other clients, each on a new connection, during the attack
                begun = time.monotonic()
                response = httpx.get(f"{server.api}/accounts/{created['founders']['association']}",
                                     timeout=30)
                latencies.append(time.monotonic() - begun)
                assert response.status_code == 200, response.text
                peak_fds = max(peak_fds, len(os.listdir(f"/proc/{server.proc.pid}/fd")))
            # to make room the node closed the attack's oldest connections, and only those
            cut = poll(lambda: n if (n := sum(map(closed_by_server, attack))) >=
                       ATTACK - connections_max else None, 30, "the attack's oldest cut")
            assert not any(map(closed_by_server, attack[-100:]))  # the newest are kept
            assert peak_fds <= connections_max + FDS_RESERVED // 2, peak_fds
            # one line at once, then a count per interval: no line per connection
            logged(server, "connection closed [evicted]")
            logged(server, "more in the last 1 s (evicted ")
            text = server.log_file.read_text()
            assert text.count("[evicted]") <= 1 + (time.monotonic() - started), text[-3000:]
        finally:
            for sock in attack:
                sock.close()
    print("FIGURES connection_limits", json.dumps({
        "attack_connections": ATTACK, "slowloris_among_them": ATTACK // 10,
        "attack_opened_s": round(opened_s, 3), "open_files": OPEN_FILES,
        "connections_max": connections_max, "attack_connections_cut_for_room": cut,
        "node_fds_peak": peak_fds, "legit_requests": len(latencies), "legit_ok": len(latencies),
        "legit_latency_median_ms": round(statistics.median(latencies) * 1000, 1),
        "legit_latency_max_ms": round(max(latencies) * 1000, 1),
    }))


def test_a_slowloris_is_cut_off_within_the_header_timeout_with_408(
        node: tuple[Server, dict[str, Any]]) -> None:
    server, _ = node
    with connect(server) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /api/v1/chain HTTP/1.1\r\nHost: lien\r\n")
        sock.settimeout(0.2)  # one more byte of a header that never ends, every 0.2 s
        answer, trickled = b"", 0
        while True:
            assert time.monotonic() - started < SHORT["header_timeout_s"] + LATE_S, "never cut"
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                try:
                    sock.send(b"X")
                    trickled += 1
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    break
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
        cut_after_s = time.monotonic() - started
        assert cut_after_s >= SHORT["header_timeout_s"] - 0.05
        status, _, code = refusal(answer)
        assert (status, code) == (408, "request_timeout")
        logged(server, "connection closed [slow_headers]: 127.0.0.1:")
        print("FIGURES connection_limits", json.dumps({
            "header_timeout_s": SHORT["header_timeout_s"], "slowloris_cut_after_s":
            round(cut_after_s, 3), "slowloris_bytes_trickled": trickled}))


def test_a_connection_that_sends_nothing_is_closed_at_the_header_timeout(
        node: tuple[Server, dict[str, Any]]) -> None:
    server, _ = node
    with connect(server) as sock:
        started = time.monotonic()
        answer, closed = read_until_closed(sock, SHORT["header_timeout_s"] + LATE_S)
        assert answer == b""  # nothing asked, nothing answered
        assert closed - started >= SHORT["header_timeout_s"] - 0.05
        logged(server, "connection closed [no_request]")


def test_an_idle_kept_alive_connection_closes_after_the_idle_timeout(
        node: tuple[Server, dict[str, Any]]) -> None:
    server, _ = node
    with connect(server) as sock:
        for _ in range(2):  # kept alive between requests...
            sock.sendall(get("/api/v1/chain"))
            status, headers, _ = read_response(sock)
            assert status == 200 and headers.get("connection") != "close"
        answered = time.monotonic()
        answer, closed = read_until_closed(sock, SHORT["idle_timeout_s"] + LATE_S)
        assert answer == b""  # ...then closed without a word: the normal end of a connection
        assert closed - answered >= SHORT["idle_timeout_s"] - 0.05
        print("FIGURES connection_limits", json.dumps({
            "idle_timeout_s": SHORT["idle_timeout_s"],
            "idle_closed_after_s": round(closed - answered, 3)}))


def test_a_slow_body_is_cut_off_at_the_body_timeout_without_an_internal_error(
        node: tuple[Server, dict[str, Any]]) -> None:
    server, _ = node
    with connect(server) as sock:
        sock.sendall(b"POST /api/v1/transactions HTTP/1.1\r\nHost: lien\r\n"
                     b"Content-Length: 100\r\n\r\n{\"type\"")
        headers_sent = time.monotonic()
        answer, closed = read_until_closed(sock, SHORT["body_timeout_s"] + LATE_S)
        assert answer == b""
        assert closed - headers_sent >= SHORT["body_timeout_s"] - 0.05
        logged(server, "connection closed [slow_body]")
        text = server.log_file.read_text()
        assert "internal error" not in text and "Traceback" not in text


@pytest.mark.anyio
async def test_a_client_that_reads_none_of_its_answers_is_cut_off_at_the_send_timeout(
        tmp_path: Path) -> None:
    # In-process, a real uvicorn on a real socket: one answer of 16 MB, more than the kernel's
    # buffers (4 MB at most) hold behind a client's 4 KB window. (One request: a client may
    # not pipeline enough requests to the node's own routes for that, PIPELINED_REQUESTS_MAX.)
    async def huge(request: Request) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(16):
                yield b"x" * (1 << 20)
        return StreamingResponse(chunks())

    async with api_env(tmp_path, bootstrap=False) as env:
        env.app.add_route("/huge", huge)
        async with served(env.app, HttpLimits(send_timeout_s=1.0)) as (url, server, _task):
            host, port = url.removeprefix("http://").split(":")
            loop = asyncio.get_running_loop()
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a window soon closed
                sock.setblocking(False)
                await loop.sock_connect(sock, (host, int(port)))
                await loop.sock_sendall(sock, get("/huge"))
                deadline = time.monotonic() + 10
                while server.pool.log.totals["slow_reader"] == 0:
                    assert time.monotonic() < deadline, "the slow reader was not cut off"
                    await asyncio.sleep(0.05)


@pytest.mark.parametrize("head", [
    # a head that ends, too large (measured once complete)...
    get("/api/v1/chain")[:-2] + b"X-Big: " + b"a" * 5000 + b"\r\n\r\n",
    # ...and one that never ends (bounded as it arrives)
    get("/api/v1/chain")[:-2] + b"X-Big: " + b"a" * 5000,
    # many small headers
    get("/api/v1/chain")[:-2] + b"".join(b"X-%d: 1\r\n" % n for n in range(600)) + b"\r\n",
], ids=["complete", "endless", "many"])
def test_a_head_over_header_bytes_max_is_431(node: tuple[Server, dict[str, Any]],
                                             head: bytes) -> None:
    server, _ = node
    with connect(server) as sock:
        sock.sendall(head)
        status, _, code = refusal(read_until_closed(sock, 10)[0])
        assert (status, code) == (431, "header_too_large")
        logged(server, "connection closed [header_too_large]")


def test_a_url_over_url_bytes_max_is_414(node: tuple[Server, dict[str, Any]]) -> None:
    server, _ = node
    with connect(server) as sock:
        sock.sendall(get("/api/v1/blocks?limit=5&x=" + "a" * SHORT["url_bytes_max"]))
        status, _, code = refusal(read_until_closed(sock, 10)[0])
        assert (status, code) == (414, "url_too_long")
        logged(server, "connection closed [url_too_long]")


def test_heads_and_urls_within_the_bounds_are_served(node: tuple[Server, dict[str, Any]]) -> None:
    server, _ = node
    with connect(server) as sock:
        query = "a" * (SHORT["url_bytes_max"] - 60)
        sock.sendall(get(f"/api/v1/blocks?limit=5&x={query}")[:-2] + b"X-Big: " + b"b" * 2500
                     + b"\r\n\r\n")
        status, _, body = read_response(sock)
        assert status == 200, body


def test_what_is_not_http_is_400_malformed(node: tuple[Server, dict[str, Any]]) -> None:
    server, _ = node
    with connect(server) as sock:
        sock.sendall(b"\x16\x03\x01\x02\x00 not a request\r\n\r\n")
        status, _, code = refusal(read_until_closed(sock, 10)[0])
        assert (status, code) == (400, "malformed")
        logged(server, "connection closed [malformed]")


def open_stream(server: Server, account: str) -> tuple[socket.socket, int, bytes]:
    """GET the account's events: (socket, status, what came first: the stream's head or the
    whole refusal)."""
    sock = connect(server)
    sock.sendall(get(f"/api/v1/accounts/{account}/events"))
    data = b""
    while b"retry:" not in data and not (b"\r\n\r\n" in data and b"}" in data):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return sock, parse_head(data.partition(b"\r\n\r\n")[0])[0], data


def a_stream(server: Server, account: str) -> socket.socket | None:
    """An open event stream, or None (its refusal closed)."""
    sock, status, _ = open_stream(server, account)
    if status == 200:
        return sock
    sock.close()
    return None


def test_event_streams_past_streams_max_are_503_with_retry_after(
        node: tuple[Server, dict[str, Any]]) -> None:
    server, created = node
    account = created["founders"]["association"]
    for _ in range(10):  # streams that end at once are released, whenever the client leaves
        open_stream(server, account)[0].close()
    streams = [poll(lambda: a_stream(server, account), 10, "a free event stream")
               for _ in range(SHORT["streams_max"])]
    sock, status, data = open_stream(server, account)
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert status == 503
    assert parse_head(head)[1]["retry-after"] == "3"
    assert json.loads(body)["error"]["code"] == "too_many_streams"
    logged(server, f"event stream refused [too_many_streams]: for {account}")
    streams.pop().close()  # one leaves: its place is free again
    streams.append(poll(lambda: a_stream(server, account), 10, "the stream's place freed"))
    for stream in streams:
        stream.close()


@pytest.mark.anyio
async def test_at_connections_max_with_every_connection_busy_a_newcomer_is_503(
        tmp_path: Path) -> None:
    # In-process, a real uvicorn on a real socket: three event streams fill three connections.
    limits = HttpLimits(connections_max=3, streams_max=2)
    async with api_env(tmp_path, ApiSettings(sse_streams_max=3)) as env, \
            served(env.app, limits) as (url, server, _task), \
            httpx.AsyncClient(base_url=url) as http, contextlib.AsyncExitStack() as streams:
        account = env.genesis.association.account
        for _ in range(3):
            response = await streams.enter_async_context(
                http.stream("GET", f"/api/v1/accounts/{account}/events"))
            assert response.status_code == 200
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(get("/api/v1/chain"))
        answer = await asyncio.wait_for(reader.read(), 10)  # to the end: closed after it
        writer.close()
        status, headers, code = refusal(answer)
        assert (status, code, headers["retry-after"]) == (503, "too_many_connections", "1")
        assert server.pool.log.totals["refused"] == 1


# -- settings -----------------------------------------------------------------------------------
def test_connections_max_is_derived_from_the_open_files_limit() -> None:
    assert HttpLimits.for_open_files(1024) == HttpLimits()  # the documented defaults
    assert (HttpLimits().connections_max, HttpLimits().streams_max) == (1024 - FDS_RESERVED, 448)
    many = HttpLimits.for_open_files(1_000_000)
    assert (many.connections_max, many.streams_max) == (10_000, 5_000)
    assert HttpLimits.for_open_files(200).connections_max == 100  # half, when that is more
    with pytest.raises(ValueError, match="connections_max = 1000 needs more open files"):
        HttpLimits.for_open_files(1024, connections_max=1000)


@pytest.mark.parametrize(("table", "message"), [
    ({"header_timeout": 5}, "no setting header_timeout"),
    ({"header_timeout_s": 0}, "header_timeout_s must be a finite number above 0"),
    ({"connections_max": 2.5}, "connections_max must be an integer above 0"),
    ({"streams_max": "all"}, "streams_max must be an integer above 0"),
    ({"idle_timeout_s": True}, "idle_timeout_s must be a finite number above 0"),
    # nan: every connection failed in connection_made (call_later) — a node unreachable;
    # inf: no deadline at all, the slowloris protection silently off
    ({"header_timeout_s": float("nan")}, "header_timeout_s must be a finite number above 0"),
    ({"send_timeout_s": float("nan")}, "send_timeout_s must be a finite number above 0"),
    ({"header_timeout_s": float("inf")}, "header_timeout_s must be a finite number above 0"),
    ({"connections_max": 100, "streams_max": 100}, "streams_max (100) must be below"),
    ({"url_bytes_max": 20_000}, "url_bytes_max (20000) is part of the head"),
])
def test_bad_http_settings_are_refused_by_name(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as refused:
        HttpLimits.from_table(table, open_files=1024)
    assert message in str(refused.value)


def test_lien_serve_refuses_bad_http_settings_with_exit_2(tmp_path: Path) -> None:
    for table, message in [({"header_timeout": 5}, "has no setting header_timeout"),
                           ({"connections_max": 5000}, "connections_max = 5000 needs more")]:
        path = tmp_path / f"node-{len(message)}"
        server, _ = make_node(path, table)
        done = subprocess.run([LIEN, "serve", "--dir", str(path), "--port", str(server.port)],
                              capture_output=True, text=True, env=CLI_ENV, timeout=60,
                              stdin=subprocess.DEVNULL, preexec_fn=server.limit_open_files)
        text = " ".join((done.stdout + done.stderr).split())
        assert done.returncode == 2, text
        assert f"{path / 'node.toml'}: [http] {message}" in text


def test_the_documented_http_table_is_the_default_one() -> None:
    text = (DOCS / "operations.md").read_text(encoding="utf-8")
    block = text.split("```toml\n[http]\n", 1)[1].split("```", 1)[0]
    table = tomllib.loads("[http]\n" + block)["http"]
    assert set(table) == {f for f in HttpLimits.__dataclass_fields__}
    assert HttpLimits.from_table(table, open_files=OPEN_FILES) == HttpLimits.for_open_files(
        OPEN_FILES)
    for code in ("request_timeout", "url_too_long", "header_too_large", "too_many_streams",
                 "too_many_connections"):
        assert code in API_CODES and f"`{code}`" in text


# -- pipelining -----------------------------------------------------------------------------------
def padded(path: str) -> bytes:
    """A small request, padded so that a few dozen of them outweigh header_bytes_max."""
    return get(path)[:-2] + b"X-Pad: " + b"p" * 100 + b"\r\n\r\n"


def test_pipelined_requests_are_each_a_head_of_their_own(
    node: tuple[Server, dict[str, Any]],
) -> None:
    """Requests pipelined in one packet, the last one cut in the middle of its head: each head
    is small. (Counting the whole packet as the last head answered a client that pipelines
    a few kilobytes of requests 431 header_too_large, and cut it off.)"""
    server, _ = node
    requests = padded("/api/v1/chain") * 40
    assert len(requests) > SHORT["header_bytes_max"]
    last = padded("/api/v1/chain")
    with connect(server) as sock:
        sock.sendall(requests + last[:20])
        answers = read_responses(sock, 40)  # the packet was read: the last head is cut
        sock.sendall(last[20:])  # (within header_timeout_s)
        answers += read_responses(sock, 1)
    assert [status for status, _ in answers] == [200] * 41, answers[-1]


def test_a_pipeline_deeper_than_the_bound_is_cut_off(node: tuple[Server, dict[str, Any]]) -> None:
    """Requests pipelined ahead of their answers wait in memory: past PIPELINED_REQUESTS_MAX
    the connection is closed (logged), so one connection cannot queue requests without end
    while it reads its answers; the node keeps answering others."""
    server, _ = node
    sent = 4 * PIPELINED_REQUESTS_MAX
    with connect(server) as sock:
        sock.sendall(get("/api/v1/chain") * sent)
        data, _ = read_until_closed(sock, 10)
    assert data.count(b"HTTP/1.1 200") <= PIPELINED_REQUESTS_MAX + 1
    logged(server, "connection closed [pipeline_too_deep]")
    assert httpx.get(f"{server.api}/chain").status_code == 200


# -- behind a reverse proxy --------------------------------------------------------------------
def test_a_trusted_proxy_gives_the_client_s_address_and_scheme(tmp_path: Path) -> None:
    """Behind the proxy of ``trusted_proxies`` the wallet's cookies are ``Secure`` when the
    member reached the proxy over HTTPS, and a forged header from anyone else is ignored."""
    trusted, _ = make_node(tmp_path / "trusted", {"trusted_proxies": ["127.0.0.1"]})
    plain, _ = make_node(tmp_path / "plain", {})
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    with trusted, plain:
        behind = httpx.get(f"{trusted.url}/wallet/api/csrf", headers=forwarded, timeout=10)
        direct = httpx.get(f"{trusted.url}/wallet/api/csrf", timeout=10)
        forged = httpx.get(f"{plain.url}/wallet/api/csrf", headers=forwarded, timeout=10)
    assert behind.status_code == direct.status_code == forged.status_code == 200
    assert "secure" in behind.headers["set-cookie"].lower()
    assert "secure" not in direct.headers["set-cookie"].lower()
    assert "secure" not in forged.headers["set-cookie"].lower()


def test_trusted_proxies_must_be_addresses() -> None:
    assert HttpLimits.from_table({"trusted_proxies": ["10.0.0.0/8", "::1"]},
                                 open_files=1024).trusted_proxies == ("10.0.0.0/8", "::1")
    for bad in ("127.0.0.1", ["proxy.example.org"], [1]):
        with pytest.raises(ValueError, match="trusted_proxies must be a list of IP addresses"):
            HttpLimits.from_table({"trusted_proxies": bad}, open_files=1024)
