"""A node reaching its NATS cluster over TLS with a user and password (node.toml's
``[ordering]`` ``user``, ``password_file``, ``tls_*_file``), as docs/operations.md tells."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lien.federation.federation import Federation, federation_config
from lien.federation.natsd import NatsServer, ServerSpec, free_ports
from lien.ordering import LogUnavailable
from lien.ledger.crypto import new_signing_key
from lien.node.genesis import make_genesis
from lien.node.node import wall_clock_ms

pytestmark = pytest.mark.slow


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate for 127.0.0.1 signed by it (openssl)."""
    ca_key, ca, key, csr, cert = (directory / n for n in
                                  ("ca-key.pem", "ca.pem", "server-key.pem", "server.csr",
                                   "server.pem"))
    ext = directory / "san.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    for command in (
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=lien test CA"],
        ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
         "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext],
    ):
        subprocess.run([str(c) for c in command], check=True, capture_output=True)
    return cert, key, ca


def test_a_node_connects_over_tls_with_its_password_and_not_without(tmp_path: Path) -> None:
    cert, key, ca = make_certificates(tmp_path)
    client, cluster, monitor = free_ports(3)
    spec = ServerSpec("tls", client, cluster, monitor, tmp_path / "store",
                      tls=(str(cert), str(key), str(ca)), auth=("lien", "s3cret-pass"))
    server = NatsServer(spec, tmp_path / "nats")
    server.start()
    try:
        server.wait_ready()
        chain_id = make_genesis("tls", wall_clock_ms(), validators=(new_signing_key(),)
                                ).config.chain_id
        (tmp_path / "nats.password").write_text("s3cret-pass\n")
        table = {"ordering": {"backend": "jetstream", "servers": [f"tls://127.0.0.1:{client}"],
                              "replicas": 1, "user": "lien", "password_file": "nats.password",
                              "tls_ca_file": "ca.pem"}}
        config = federation_config(tmp_path, table, "n")
        assert config is not None
        federation = Federation(config, tmp_path, chain_id)  # connects, creates the stream
        try:
            entries = federation.log.append([b'{"x":1}'], wall_clock_ms(), True, ids=["x"])
            assert [e.position for e in entries] == [1, 2]
        finally:
            federation.close()
        # a wrong password, or no TLS trust, is refused with a clear error
        (tmp_path / "nats.password").write_text("wrong\n")
        wrong = federation_config(tmp_path, table, "n")
        assert wrong is not None
        with pytest.raises(LogUnavailable, match="cannot connect to NATS"):
            Federation(wrong, tmp_path, chain_id)
        untrusted = federation_config(tmp_path, {"ordering": {
            **table["ordering"], "password_file": None, "tls_ca_file": None}}, "n")
        assert untrusted is not None
        with pytest.raises(LogUnavailable, match="cannot connect to NATS"):
            Federation(untrusted, tmp_path, chain_id)
    finally:
        server.stop()
