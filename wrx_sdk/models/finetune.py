"""Fine-tune a family checkpoint into a sequence classifier on CPU, cached.

The result is a plain Hugging Face checkpoint directory (config.json with the family's
``*ForSequenceClassification``, model.safetensors, tokenizer files) so that
transformers can load it as an independent reference. Training is keyed by everything
that changes its result; a second call with the same key copies from the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from wrx_sdk import config, models
from wrx_sdk.errors import WrxError
from wrx_sdk.formats.files import write_json
from wrx_sdk.models.tasks import load_task
from wrx_sdk.models.tokenizer import encode, load_tokenizer

TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
STAMP = "wrx_finetune.json"


def _key(src: Path, task: str, hp: dict) -> str:
    h = hashlib.sha256()
    for name in ("config.json", "model.safetensors", "pytorch_model.bin"):
        p = src / name
        if p.is_file():
            st = p.stat()
            h.update(f"{name}:{st.st_size}".encode())
            with open(p, "rb") as f:
                h.update(f.read(1 << 20))
    h.update(json.dumps({"task": task, **hp}, sort_keys=True).encode())
    return h.hexdigest()[:16]


def finetune(
    model: str,
    task_name: str,
    out: Path,
    steps: int | None = None,
    use_cache: bool = True,
    seed: int | None = None,
    progress: bool = True,
) -> dict:
    """Fine-tune ``model`` on ``task_name`` into ``out``; returns the stamp (incl. dev accuracy)."""
    hp = config.defaults("finetune")
    # A built-in model may set its own (configs/models.yaml, `finetune`): mpnet-base costs
    # about eight times MiniLM's compute per step, so it takes fewer.
    hp.update(models.builtin_names().get(str(model), {}).get("finetune") or {})
    if steps is not None:
        hp["steps"] = int(steps)
    if seed is not None:
        hp["seed"] = int(seed)
    if hp["steps"] < 1:
        raise WrxError(f"--steps must be >= 1, got {hp['steps']}")
    src = models.resolve(model)
    key = _key(src, task_name, hp)
    cached = config.cache_dir() / "finetune" / key
    out = Path(out)
    if use_cache and (cached / STAMP).is_file():
        stamp = json.loads((cached / STAMP).read_text())
        if out.resolve() != cached.resolve():
            _copy_dir(cached, out)
        print(f"fine-tune: cached ({cached}), dev accuracy {stamp['dev_accuracy']:.4f}")
        return stamp
    stamp = _train(src, task_name, hp, cached if use_cache else out, key, progress, str(model))
    if use_cache and out.resolve() != cached.resolve():
        _copy_dir(cached, out)
    return stamp


def _copy_dir(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(tmp, dst)


def _batches(n: int, bs: int, rng: np.random.Generator):
    while True:
        perm = rng.permutation(n)
        for i in range(0, n - bs + 1, bs):
            yield perm[i : i + bs]


def _trim(ids: np.ndarray, types: np.ndarray, lengths: np.ndarray) -> tuple[torch.Tensor, ...]:
    """Cut padding to the longest row of the batch: same result, less compute."""
    S = int(lengths.max())
    mask = (np.arange(S)[None, :] < lengths[:, None]).astype(np.int64)
    return (
        torch.from_numpy(ids[:, :S].astype(np.int64)),
        torch.from_numpy(mask),
        torch.from_numpy(types[:, :S].astype(np.int64)),
    )


@torch.no_grad()
def accuracy(module: torch.nn.Module, enc, labels: np.ndarray, bs: int = 64) -> float:
    module.eval()
    order = np.argsort(enc.lengths)
    correct = 0
    for i in range(0, len(order), bs):
        idx = order[i : i + bs]
        logits = module(*_trim(enc.input_ids[idx], enc.token_type_ids[idx], enc.lengths[idx]))
        correct += int((logits.argmax(-1).numpy() == labels[idx]).sum())
    return correct / len(order)


def _train(
    src: Path, task_name: str, hp: dict, out: Path, key: str, progress: bool, model_label: str = ""
) -> dict:
    from wrx_sdk.models.families import bert

    torch.manual_seed(hp["seed"])
    torch.set_num_threads(os.cpu_count() or 1)
    ckpt = models.load_checkpoint(src)
    task = load_task(task_name)
    weights = bert.init_head(ckpt.weights, len(task.labels), hp["seed"])
    module = bert.BertClassifier(weights, fam=ckpt.family)
    tok = load_tokenizer(src)
    train, dev = task.splits["train"], task.splits["dev"]
    tr = encode(tok, train.texts, train.pairs, hp["max_seq_len"])
    dv = encode(tok, dev.texts, dev.pairs, hp["max_seq_len"])

    # The classifier starts from scratch, so the head gets a larger learning rate.
    groups: dict[tuple[bool, bool], list] = {}
    for n, p in module.named_parameters():
        groups.setdefault((n.startswith("head."), n.endswith(("_b", "_g"))), []).append(p)
    opt = torch.optim.AdamW(
        [
            {
                "params": ps,
                "lr": hp["lr"] * (hp["head_lr_mult"] if is_head else 1.0),
                "weight_decay": 0.0 if no_decay else hp["weight_decay"],
            }
            for (is_head, no_decay), ps in groups.items()
        ]
    )
    steps, warm = hp["steps"], max(1, int(hp["steps"] * hp["warmup_frac"]))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm)))
    )
    rng = np.random.default_rng(hp["seed"])
    batches = _batches(len(train), hp["batch_size"], rng)
    t0 = time.time()
    module.train()
    bar = tqdm(
        range(steps),
        desc=f"fine-tune {model_label} on {task_name}",
        disable=not progress,
        unit="step",
    )
    ema = None
    for _ in bar:
        idx = next(batches)
        logits = module(*_trim(tr.input_ids[idx], tr.token_type_ids[idx], tr.lengths[idx]))
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(train.labels[idx]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        opt.step()
        sched.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        bar.set_postfix(loss=f"{ema:.3f}")
    train_s = time.time() - t0
    acc = accuracy(module, dv, dev.labels)
    print(f"fine-tune: {steps} steps in {train_s:.0f} s, dev accuracy {acc:.4f} ({len(dev)} rows)")

    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    w = module.to_weights()
    from safetensors.numpy import save_file

    save_file(
        ckpt.family.state_dict_from_weights(w),
        str(tmp / "model.safetensors"),
        metadata={"format": "pt"},
    )
    write_json(tmp / "config.json", ckpt.family.hf_config(w.geometry, task.labels, ckpt.config))
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, tmp / name)
    stamp = {
        "key": key,
        "source": str(src),
        "task": task_name,
        "hyperparameters": hp,
        "dev_accuracy": acc,
        "dev_rows": len(dev),
        "train_seconds": round(train_s, 1),
    }
    write_json(tmp / STAMP, stamp)
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out)
    return stamp
