"""Accuracy and parity claims, on the real all-MiniLM-L6-v2 fine-tuned on rt-polarity.

The fine-tune is cached under the wrx cache directory (WRX_CACHE, default ~/.cache/wrx), so
only the first run on a machine pays for it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from wrx_sdk.formats import devdata
from wrx_sdk.formats.manifest import open_package
from wrx_sdk.measure.evaluate import evaluate
from wrx_sdk.measure.reference import ReferenceExecutor


@pytest.fixture(scope="module")
def results(minilm_pkg):
    out, _ = minilm_pkg
    with open_package(out) as pkg:
        ex = ReferenceExecutor(pkg)
        return {b: evaluate(pkg, bits=b, executor=ex, progress=False) for b in (32, 6, 4)}


def test_package_is_fast(minilm_pkg):
    _, seconds = minilm_pkg
    assert seconds <= 60, f"wrx package took {seconds:.1f} s"


def test_finetuned_accuracy(results):
    assert results[32].accuracy >= 0.80, results[32].accuracy


def test_fp32_equals_transformers(minilm_ckpt, minilm_pkg, results):
    from transformers import BertForSequenceClassification

    out, _ = minilm_pkg
    enc, _ = devdata.read(out / "data" / "dev.bin")
    model = BertForSequenceClassification.from_pretrained(minilm_ckpt).eval()
    logits = []
    with torch.no_grad():
        for i in range(0, len(enc.lengths), 128):
            sl = slice(i, i + 128)
            logits.append(
                model(
                    input_ids=torch.from_numpy(enc.input_ids[sl].astype(np.int64)),
                    attention_mask=torch.from_numpy(enc.attention_mask()[sl]),
                    token_type_ids=torch.from_numpy(enc.token_type_ids[sl].astype(np.int64)),
                ).logits.numpy()
            )
    ref = np.concatenate(logits)
    ours = results[32]
    assert np.array_equal(ref.argmax(-1), ours.predictions)
    assert np.abs(ref - ours.logits).max() <= 1e-4


def test_quantized_accuracy_budget(results):
    fp32 = results[32].accuracy
    assert fp32 - results[6].accuracy <= 0.010, (fp32, results[6].accuracy)
    assert fp32 - results[4].accuracy <= 0.025, (fp32, results[4].accuracy)


def test_cli_eval_json(minilm_pkg, results):
    out, _ = minilm_pkg
    r = subprocess.run(
        [sys.executable, "-m", "wrx_sdk.cli", "eval", str(out), "--bits", "4", "--json"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["predictions"] == results[4].predictions.tolist()
