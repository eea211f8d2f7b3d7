"""``lien bench`` works end to end (small sizes). It measures; it asserts no speed here:
figures live in docs/results.md, compared with a baseline of the same run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_support import run

KEYS = {
    "ed25519_verify_per_s", "batch_payments_per_s", "http_payments_per_s",
    "http_latency_p50_ms", "http_latency_p99_ms", "verify_tx_per_s", "disk_bytes_per_tx",
    "targets_met",
}


def test_bench_prints_one_json_object_as_its_last_line(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = run("bench", "--json", "--out", out, "--batch-payments", "1000",
                 "--http-payments", "1000")
    assert result.exit_code == 0, result.text
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert KEYS <= set(figures)
    assert json.loads(out.read_text()) == figures
    baseline = figures["ed25519_verify_per_s"]
    for name in ("batch_payments_per_s", "http_payments_per_s", "verify_tx_per_s"):
        assert figures[name] > 0
        assert abs(figures[f"{name}_ratio"] - figures[name] / baseline) < 0.01
    assert 0 < figures["http_latency_p50_ms"] <= figures["http_latency_p99_ms"]
    assert figures["disk_bytes_per_tx"] > 0


SCALE_KEYS = {
    "scale_build_s", "scale_accounts", "scale_transactions", "scale_batch_payments_per_s",
    "scale_restart_s", "scale_rss_mib", "scale_verify_tx_per_s", "scale_ready_s",
    "scale_ready_rss_mib",
}


def test_the_scale_path_builds_the_history_and_measures_a_restart(tmp_path: Path) -> None:
    """``lien bench --scale`` at a small size: the chain has exactly the transactions asked
    for, a served node restarts on it and answers, and verify passes over all of it."""
    from lien import bench

    figures = bench.run_scale(tmp_path / "scale", accounts=300, transactions=2000,
                              batch_payments=500)
    assert SCALE_KEYS <= set(figures)
    assert figures["scale_transactions"] == 2000
    assert figures["scale_accounts"] >= 300
    for name in SCALE_KEYS - {"scale_accounts", "scale_transactions"}:
        assert figures[name] > 0, name


def test_the_till_path_pays_between_two_phones_in_chromium(tmp_path: Path) -> None:
    """``lien bench --till`` at a small size: real sign-ups, two Chromium phones, every payment
    seen *Payé* on the business's screen; the delays and the first load are measured."""
    from lien.bench_till import bench_till

    figures = bench_till(tmp_path / "till", payments=3)
    assert figures["till_payments"] == 3
    assert 0 < figures["till_paid_p50_ms"] <= figures["till_paid_p99_ms"]
    assert 20 < figures["wallet_first_load_kb"] < 2000  # the page, its modules, hash-wasm


FEDERATION_KEYS = {
    "ed25519_verify_per_s", "federation_nodes", "federation_clients", "federation_payments",
    "federation_payments_per_s", "federation_final_p50_ms", "federation_final_p99_ms",
    "federation_final_max_ms", "federation_final_gap_max_ms", "federation_failover_pause_ms",
    "federation_failover_payments_not_final", "federation_failover_blocks_pause_ms",
    "federation_blocks", "federation_cpu_nodes_pct", "federation_cpu_nats_pct",
    "federation_cpu_load_pct", "federation_cpu_machine_pct",
}


@pytest.mark.slow
def test_the_federation_bench_runs_three_nats_servers_and_three_nodes(tmp_path: Path) -> None:
    """``lien bench --federation`` at a tiny size: 3 NATS servers and 3 ``lien serve``
    validators, payments final on the node they entered, the stream's leader killed under
    load, and the three databases holding the same blocks at the end (else it fails)."""
    out = tmp_path / "federation.json"
    result = run("bench", "--json", "--federation", "--out", out, "--federation-seconds", "2",
                 "--federation-clients", "2", "--federation-accounts", "20")
    assert result.exit_code == 0, result.text
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert json.loads(out.read_text()) == figures
    assert FEDERATION_KEYS <= set(figures)
    for name in FEDERATION_KEYS:
        assert type(figures[name]) is int and figures[name] >= 0, name
    assert figures["federation_nodes"] == 3
    assert figures["federation_clients"] == 6
    assert figures["federation_payments"] > 0 and figures["federation_payments_per_s"] > 0
    assert 0 < figures["federation_final_p50_ms"] <= figures["federation_final_p99_ms"]
    assert figures["federation_final_p99_ms"] <= figures["federation_final_max_ms"] < 10_000
    # the stream elects a new leader in seconds: finality pauses, then resumes on every node
    assert 0 < figures["federation_final_gap_max_ms"] < figures["federation_failover_pause_ms"]
    assert figures["federation_failover_pause_ms"] < 60_000
    assert 0 < figures["federation_failover_blocks_pause_ms"] < 60_000
    assert figures["federation_cpu_nodes_pct"] > 0 and figures["federation_cpu_nats_pct"] > 0
    assert figures["federation_blocks"] > 0
    ratio = figures["federation_payments_per_s"] / figures["ed25519_verify_per_s"]
    assert abs(figures["federation_payments_per_s_ratio"] - ratio) < 0.001
