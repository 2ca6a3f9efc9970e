"""Model: the network and what rides on it — the neural cache, the type probe, the stateful sampling loop.

Takes token ids, gives next-token distributions and sampled rows; knows nothing of files or music formats.
"""
