"""Train: the checkpoint format, the Trainer (which knows nothing of music), runs, and fits of cache and probe.

Takes a corpus folder and a network, gives checkpoints (weights, every stage's config, the tokenizer).
"""
