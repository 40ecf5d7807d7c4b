"""Turn a checkpoint into a package: shard, quantize, write the store, export programs."""
