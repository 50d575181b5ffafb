"""Token overlap of each language's syn-tatoeba queries with their English gold sentences, under
the shipped tokenizer: the share of a query's tokens (ids, with repeats) that occur in its
English translation. Mean-pooled retrieval from a low layer leans on tokens both sides share.

    python docs/calibration/floors/tatoeba_overlap.py $XSTILTS_CACHE/synthetic/data-*/syn-tatoeba \
        $XSTILTS_CACHE/synthetic/48ce50e990b6/tokenizer
"""

import json
import statistics
import sys
from pathlib import Path

from tokenizers import Tokenizer


def main(folder: Path, tokenizer_folder: Path) -> None:
    tokenizer = Tokenizer.from_file(str(tokenizer_folder / "tokenizer.json"))
    for lang in ("clo", "scr", "ord"):
        rows = [json.loads(line) for line in (folder / f"validation.{lang}.jsonl").read_text(encoding="utf-8").splitlines()]
        english = {r["id"]: r["text"] for r in rows if r["side"] == "candidate"}
        shares, exact = [], []
        for row in rows:
            if row["side"] != "query":
                continue
            gold = english.get(row["gold"][0])
            if gold is None:
                continue
            query_ids, gold_ids = tokenizer.encode(row["text"]).ids, set(tokenizer.encode(gold).ids)
            shares.append(sum(i in gold_ids for i in query_ids) / len(query_ids))
            words = set(gold.split())
            exact.append(sum(w in words for w in row["text"].split()) / len(row["text"].split()))
        print(f"{lang}: {len(shares)} queries; tokens shared with the English gold {100 * statistics.fmean(shares):.1f}%, whole words {100 * statistics.fmean(exact):.1f}%")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
