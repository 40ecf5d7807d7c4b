"""WRX build side: shard, quantize, package, plan and deploy BERT-family classifiers."""

__version__ = "0.1.0"
