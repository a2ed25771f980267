"""The labelled development set (../shared/corpus/replies) stays at or above the figures measured on it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT.parent / "shared" / "corpus" / "replies"


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_classifier", ROOT / "benchmarks" / "bench_classifier.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    if not (CORPUS / "labels.jsonl").exists():
        pytest.skip(f"labelled corpus not available at {CORPUS}")
    return dict(_bench().run(CORPUS, throughput_seconds=0.0))


def test_no_unsafe_automation(figures: dict[str, Any]) -> None:
    assert figures["unsafe_automations"] == 0, figures["unsafe_files"]


@pytest.mark.parametrize(
    ("metric", "floor"),
    [
        ("macro_f1", 0.96),
        ("promised_date_exact", 0.98),
        ("paid_date_exact", 0.98),
        ("amount_exact", 0.98),
        ("invoice_set_exact", 0.97),
        ("automation_rate", 0.42),
    ],
)
def test_metric_floor(figures: dict[str, Any], metric: str, floor: float) -> None:
    assert figures[metric] >= floor, figures


def test_product_pipeline_floors() -> None:
    """What `relance inbox classify` outputs (database ledger, product matching) on the same labels."""
    if not (CORPUS / "labels.jsonl").exists():
        pytest.skip(f"labelled corpus not available at {CORPUS}")
    product = _bench().run_product(CORPUS)
    assert product["unsafe_automations"] == 0, product["unsafe_files"]
    assert product["macro_f1"] >= 0.96
    # Lower than the domain pipeline until bot/app/reply_matching.py reads amounts and thread ids (see the
    # benchmark's "product vs domain" lines).
    assert product["invoice_set_exact"] >= 0.94
    assert product["promised_date_exact"] >= 0.98
