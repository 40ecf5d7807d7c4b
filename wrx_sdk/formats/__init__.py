"""The contracts: every file a package holds, as docs/FORMAT.md specifies it.

Store (layout, writer, reader, codebook payload), manifest (geometry, shard spec, quant
scheme), plan (and its pipeline knobs), evaluation data and device profile. The C++ loader
reads the same bytes, and both sides are tested on tests/golden/. Nothing here imports
torch or any other stage of the SDK: only ``wrx_sdk.errors``.
"""
