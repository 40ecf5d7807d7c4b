import json

import numpy as np
import pytest

from wrx_sdk.errors import DataError
from wrx_sdk.models.tasks import load_task
from wrx_sdk.models.tokenizer import encode, load_tokenizer


def test_rt_polarity_splits_are_fixed_and_disjoint():
    t = load_task("rt-polarity")
    sizes = {k: len(v) for k, v in t.splits.items()}
    assert sizes == {"train": 11368, "calib": 512, "dev": 872}
    assert sum(sizes.values()) == 12752  # unique fresh/rotten snippets
    sets = {k: set(v.texts) for k, v in t.splits.items()}
    assert not (sets["dev"] & sets["train"]) and not (sets["dev"] & sets["calib"])
    assert not (sets["calib"] & sets["train"])
    again = load_task("rt-polarity")
    assert again.splits["dev"].texts == t.splits["dev"].texts
    assert 0.3 < t.splits["dev"].labels.mean() < 0.7


@pytest.mark.parametrize("name,n_labels", [("tweets-3", 3), ("bbc-news", 5)])
def test_other_builtin_tasks(name, n_labels):
    t = load_task(name)
    assert len(t.labels) == n_labels
    assert set(np.unique(t.splits["train"].labels)) == set(range(n_labels))


def test_user_csv_and_jsonl_with_pairs(tmp_path):
    rows = [{"text": f"q {i}", "text_pair": f"a {i}", "label": ["no", "yes"][i % 2]} for i in range(50)]
    j = tmp_path / "d.jsonl"
    j.write_text("\n".join(json.dumps(r) for r in rows))
    c = tmp_path / "d.csv"
    c.write_text(
        "text,text_pair,label\n" + "\n".join(f"{r['text']},{r['text_pair']},{r['label']}" for r in rows)
    )
    for p in (j, c):
        t = load_task(str(p))
        assert t.labels == ["no", "yes"]
        assert t.splits["dev"].pairs is not None
        assert len(t.splits["dev"]) == 5


def test_user_data_errors(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"text": "x"}\n')
    with pytest.raises(DataError, match="lacks field 'text' or 'label'"):
        load_task(str(p))
    p.write_text('{"text": "x", "label": 1}\n{oops\n')
    with pytest.raises(DataError, match="bad.jsonl:2: not valid JSON"):
        load_task(str(p))
    with pytest.raises(DataError, match="unknown task"):
        load_task("no-such-task")


def test_tokenizer_pads_and_masks(tmp_path):
    from wrx_sdk.models import resolve

    tok = load_tokenizer(resolve("minilm-l6"))
    e = encode(tok, ["a fine film", "x " * 300], ["and a pair", "y"], 32)
    assert e.input_ids.shape == (2, 32)
    assert e.lengths[1] == 32 and e.lengths[0] < 32
    assert e.input_ids[0, 0] == 101 and (e.input_ids[0, e.lengths[0] :] == 0).all()
    assert e.token_type_ids[0].max() == 1  # the pair gets segment 1
    assert e.attention_mask()[0].sum() == e.lengths[0]
