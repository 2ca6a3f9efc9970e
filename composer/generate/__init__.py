"""Generate: `Composer` loads a checkpoint, primes it with a seed, and samples rows under the token grammar.

Takes a seed (file, Score or ids) and labels, gives Scores.
"""
