"""BM25 product search, as the original's pyserini index (Lucene EnglishAnalyzer, k1=0.9, b=0.4).

Each product is indexed as the lower-cased concatenation of its title, description, first
bullet point and an options string `name: v1, v2, and name2: ...`. The analysis approximates
Lucene's: UAX#29-like word tokens, possessive `'s` removed, lower case, Lucene's English stop
words, Porter stemming (PyStemmer's `porter`). Scoring is bm25s's Lucene variant; hits are the
documents that match at least one query term, best first, ties by catalogue order (as Lucene
breaks ties by document id), at most `top_k`.

Known differences from the original: Lucene stores document lengths in one lossy byte, and its
tokenizer follows the full Unicode word-break rules; both shift a few near-tied rankings.
"""

from __future__ import annotations

import re
from functools import lru_cache

import bm25s
import numpy as np
import Stemmer

from rlgen.envs.webshop.catalogue import Catalogue, Product

K1, B = 0.9, 0.4
TOP_K = 50
# Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET.
STOP_WORDS = frozenset("""a an and are as at be but by for if in into is it no not of on or such
that the their then there these they this to was will with""".split())
# Word characters joined by an apostrophe or a period (u.s, men's, 3.5), digits by , or ; (1,000).
_TOKEN = re.compile(r"\w+(?:(?:['’.]|(?<=\d)[,;](?=\d))\w+)*")
_STEMMER = Stemmer.Stemmer("porter")


def analyze(text: str) -> list[str]:
    tokens = []
    for tok in _TOKEN.findall(text.lower()):
        if tok.endswith(("'s", "’s")):
            tok = tok[:-2]
        if tok and tok not in STOP_WORDS:
            tokens.append(tok)
    return _STEMMER.stemWords(tokens)


def document_text(product: Product) -> str:
    option_text = ", and ".join(f"{name}: {', '.join(values)}"
                                for name, values in product.options.items())
    first_bullet = product.bullet_points[0] if product.bullet_points else ""
    return " ".join([product.name, product.description, first_bullet, option_text]).lower()


class SearchEngine:
    def __init__(self, catalogue: Catalogue, top_k: int = TOP_K):
        self.asins = [p.asin for p in catalogue.products]
        self.top_k = top_k
        corpus = [analyze(document_text(p)) for p in catalogue.products]
        self.bm25 = bm25s.BM25(k1=K1, b=B, method="lucene")
        self.bm25.index(corpus, show_progress=False)
        self.vocab = self.bm25.vocab_dict

    def search(self, query: str) -> list[str]:
        """ASINs of the best `top_k` products for `query` (fewer when fewer match)."""
        ids = [self.vocab[t] for t in analyze(query) if t in self.vocab]
        if not ids:
            return []
        scores = self.bm25.get_scores_from_ids(ids)
        k = min(self.top_k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[scores[top] > 0]
        order = np.lexsort((top, -scores[top]))  # score descending, then catalogue order
        return [self.asins[i] for i in top[order]]


@lru_cache(maxsize=4)
def search_engine(data_dir: str | None = "1k") -> SearchEngine:
    from rlgen.envs.webshop.catalogue import load_catalogue

    return SearchEngine(load_catalogue(data_dir))
