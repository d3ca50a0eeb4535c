"""Write ``similarity.jsonl`` from the FAQ and its queries (run after editing either; the output is committed).

    python data/make_pairs.py    # from example_suite/faq_retrieval

Each query is paired with three FAQ questions, graded by how related they are: 2 = the (first) FAQ that answers it,
1 = another FAQ of the same category (related, e.g. two shipping questions), 0 = an FAQ of another category.
The embedding-similarity task scores the Spearman correlation of the model's cosines with these grades: a
compressed encoder must keep the ordering "answer > same topic > unrelated", not only the top hit.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 0


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    faq = {row["id"]: row for row in read_jsonl(HERE / "faq.jsonl")}
    rng = random.Random(SEED)
    rows = []
    for query in read_jsonl(HERE / "queries.jsonl"):
        answer = faq[query["relevant"][0]]
        same = [d for d in faq.values() if d["category"] == answer["category"] and d["id"] not in query["relevant"]]
        other = [d for d in faq.values() if d["category"] != answer["category"]]
        for doc, grade in ((answer, 2), (rng.choice(same), 1), (rng.choice(other), 0)):
            rows.append({"sentence1": query["query"], "sentence2": doc["title"], "score": grade})
    (HERE / "similarity.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"similarity.jsonl: {len(rows)} pairs")


if __name__ == "__main__":
    main()
