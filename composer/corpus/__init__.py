"""Corpus: many files → token shards (build, tokenize, store), and shards → training windows (data).

Takes folders of tunes, gives a corpus folder of token shards with an index, then batches for training.
"""

from composer.corpus.store import merge_corpora
from composer.corpus.tokenize import CorpusReport, find_files, parse_shard, select_shard, tokenize_corpus

__all__ = ["CorpusReport", "find_files", "merge_corpora", "parse_shard", "select_shard", "tokenize_corpus"]
