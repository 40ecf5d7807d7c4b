"""Device profiles (FORMAT.md, "Device profile"): what ``wrx profile-device`` measured.

``wrx-loader --profile`` writes the measurements; the build side adds the calibration and
keeps the whole as YAML under OUT/profiles/. The planners read nothing else about a device.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from wrx_sdk.errors import WrxError
from wrx_sdk.formats.files import atomic_open
from wrx_sdk.formats.schema import INT, NUM, check

FORMAT = "wrx-profile"
PROFILE_VERSION = 5  # wrx-loader --profile's format_version
REPROFILE = "re-run wrx profile-device (a profile is written by it, not by hand)"


def write_profile(path: str | Path, rep: dict) -> None:
    with atomic_open(path, "w") as f:
        f.write("# wrx device profile (docs/FORMAT.md, 'Device profile'); written by wrx profile-device\n")
        yaml.safe_dump(rep, f, sort_keys=False)


def load_profile(path: str | Path) -> dict:
    p = Path(path)
    try:
        d = yaml.safe_load(p.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        hint = "wrx profile-device OUT --device DEV"
        raise WrxError(f"device profile {p} does not exist", hint=hint, code="MISSING_FILE") from None
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError, ValueError) as e:
        raise WrxError(
            f"{p}: not valid YAML ({e})", hint="re-run wrx profile-device", code="BAD_DATA"
        ) from None
    version = d.get("format_version") if isinstance(d, dict) else None
    if not isinstance(d, dict) or d.get("format") != FORMAT or version != PROFILE_VERSION:
        raise WrxError(
            f"{p}: field format_version is {version}, this wrx reads version-{PROFILE_VERSION} "
            "device profiles (older ones lack the timings per length, the lane timings or the 8-bit head's)",
            hint="re-run wrx profile-device",
            code="UNSUPPORTED_VERSION",
        )
    _check(d, _SCHEMA, "", p)
    _check_counts(d, p)
    return d


# What the planners read, and the type of each field: a hand-edited or truncated profile is
# a user error naming the field, never a KeyError inside the cost model (formats/schema.py).
_TIMES = {"layer": [NUM], "attn": [NUM], "ffn": [NUM]}
_LANE = {"lanes": INT, "attn": [NUM], "ffn": [NUM]}
TERMS = ("compute_scale", "half_ms", "fixed_ms", "words_extra_ms", "mb_compute_ms")
TERMS += ("request_compute_ms", "request_io_ms")  # cost_model.Terms: the calibration's fields
_TERMS = {"*": {f"?{k}": NUM for k in TERMS}}
_SCHEMA = {
    "seq_len": INT,
    "shards_per_layer": INT,
    "device": {"?name": str},
    "io": {"read_mbps_by_request_bytes": {"*": NUM}, "?bandwidth_cap_mbps": NUM},
    "decode_gbps": {"*": NUM},
    "crc_gbps": NUM,
    "compute_ms_by_shards": _TIMES,
    "lane_compute_ms_by_shards": _LANE,
    "overheads": {"finish_layer_ms": NUM, "embed_ms": NUM, "head_ms_by_bits": {"*": NUM}},
    "memory": {
        "resident_base_bytes": INT,
        "head_bytes_by_bits": {"*": INT},
        "activation_bytes": INT,
        "lane_bytes": INT,
    },
    "?by_length": {
        "*": {
            "compute_ms_by_shards": _TIMES,
            "lane_compute_ms_by_shards": _LANE,
            "finish_layer_ms": NUM,
            "embed_ms": NUM,
        }
    },
    "?calibration": {"?lanes": _TERMS, "?short": {"length": INT, "lanes": _TERMS}},
}


def _check(v, schema, field: str, path: Path) -> None:
    check(v, schema, field, path, REPROFILE)


def _check_counts(d: dict, path: Path) -> None:
    """Every per-shard timing list has one entry per shard count (the cost model indexes
    them by k); a measured length is within the programs' range; calibration terms are the
    cost model's."""
    M, S = d["shards_per_layer"], d["seq_len"]
    heads = {str(k) for k in d["overheads"]["head_ms_by_bits"]}
    if "32" not in heads or heads != {str(k) for k in d["memory"]["head_bytes_by_bits"]}:
        raise WrxError(
            f"{path}: fields overheads.head_ms_by_bits and memory.head_bytes_by_bits must name the same "
            "heads, the fp32 one (32) among them",
            hint=REPROFILE,
            code="BAD_DATA",
        )
    cal = d.get("calibration") or {}
    for pre, lanes in (
        ("calibration.lanes", cal.get("lanes")),
        ("calibration.short.lanes", (cal.get("short") or {}).get("lanes")),
    ):
        for k, terms in (lanes or {}).items():
            extra = sorted(set(terms) - set(TERMS))
            if extra:
                raise WrxError(
                    f"{path}: field {pre}.{k} has unknown terms {extra}", hint=REPROFILE, code="BAD_DATA"
                )
    tables = {"": d, **{f"by_length.{k}.": v for k, v in (d.get("by_length") or {}).items()}}
    for pre, t in tables.items():
        for name in ("compute_ms_by_shards", "lane_compute_ms_by_shards"):
            for prog, ms in t[name].items():
                if prog != "lanes" and len(ms) != M:
                    raise WrxError(
                        f"{path}: field {pre}{name}.{prog} has {len(ms)} timings, shards_per_layer is {M}",
                        hint=REPROFILE,
                        code="BAD_DATA",
                    )
        if pre and not 1 <= int(pre.split(".")[1]) <= S:
            raise WrxError(
                f"{path}: field {pre[:-1]} is a length outside 1..seq_len ({S})",
                hint=REPROFILE,
                code="BAD_DATA",
            )


def timings_at(profile: dict, length: int) -> dict:
    """The compute timings for queries of ``length`` tokens: ``compute_ms_by_shards``,
    ``lane_compute_ms_by_shards``, ``finish_layer_ms`` and ``embed_ms``, interpolated
    linearly between the two measured lengths around it (``by_length``), and those of the
    shortest measured length below it (an upper bound: compute grows with length)."""
    top = {
        "compute_ms_by_shards": profile["compute_ms_by_shards"],
        "lane_compute_ms_by_shards": profile["lane_compute_ms_by_shards"],
        "finish_layer_ms": profile["overheads"]["finish_layer_ms"],
        "embed_ms": profile["overheads"]["embed_ms"],
    }
    by = {int(k): v for k, v in (profile.get("by_length") or {}).items()}
    if not by or length >= int(profile["seq_len"]):
        return top
    lens = sorted(by)
    if length <= lens[0]:
        return by[lens[0]]
    hi = next(n for n in lens if n >= length)
    lo = max(n for n in lens if n < length)
    w = (length - lo) / (hi - lo)

    def mix(a, b):
        if isinstance(a, dict):
            return {k: mix(a[k], b[k]) for k in a}
        if isinstance(a, list):
            return [mix(x, y) for x, y in zip(a, b, strict=True)]
        if isinstance(a, bool) or isinstance(a, int):
            return a  # counts (lanes), not timings
        return (1 - w) * float(a) + w * float(b)

    return mix(by[lo], by[hi])
