#!/usr/bin/env python3
"""Generate the labelled software descriptions of the software-topics example (standard library only).

Each row is a one-line package summary of the kind a package index shows ("A lightweight async driver for
PostgreSQL with connection pooling.") labelled with one of six topics. Summaries are assembled from
hand-written parts: per topic, what the package *is* (core phrases) and what it *does* (feature clauses),
plus shared openers, languages and qualifiers. A third of each topic's core phrases appear only in the
test split, so the test measures new wording; some feature clauses borrow another topic's vocabulary
("... with audit logs for your CI pipeline" on a security tool) and 30% of rows take their clause from
another topic altogether, so the core phrase decides and a linear probe stays below 100%.

Deterministic (``random.Random(SEED)``); writes next to this script::

    python3 example_suite/software_topics/data/make_descriptions.py

* ``train.jsonl``  50 rows per topic, ``{"text", "label"}`` (the probe is fit on these)
* ``test.jsonl``   30 rows per topic, ``{"text", "label"}`` (the gate scores these)

No text occurs twice within or across the files.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 7
N_TRAIN, N_TEST = 50, 30  # per topic
BORROW_RATE = 0.3  # share of rows whose feature clause comes from another topic
OUT_DIR = Path(__file__).resolve().parent

OPENERS = ["A", "A lightweight", "A fast", "A small", "A modern", "A minimal", "An open-source",
           "A batteries-included", "A typed", "A simple", "A production-ready"]
LANGUAGES = ["", "", "", " for Python", " for Rust", " for Go", " written in Rust", " for Node.js", " in pure Python"]
QUALIFIERS = ["", "", ".", " with sensible defaults.", " that stays out of your way.", ", with zero dependencies.",
              ", tested on Linux, macOS and Windows.", " with first-class async support."]

TOPICS: dict[str, dict[str, list[str]]] = {
    "database": {
        "core": ["driver for PostgreSQL", "ORM for SQLite and MySQL", "key-value store", "query builder",
                 "schema migration tool", "connection pool", "embedded document database", "SQL parser",
                 "time-series database client", "Redis client", "graph database adapter", "database replication daemon"],
        "does": ["with prepared statements", "that streams rows lazily", "with automatic index suggestions",
                 "supporting transactions and savepoints", "with a declarative table schema", "that caches query plans",
                 "with point-in-time recovery", "that benchmarks slow queries in your CI pipeline"],
    },
    "web": {
        "core": ["web framework", "HTTP server", "REST API toolkit", "template engine", "URL router",
                 "WebSocket library", "static site generator", "GraphQL server", "form validation library",
                 "session middleware", "reverse proxy", "HTTP client"],
        "does": ["with request routing and middleware", "that renders pages on the server", "with OpenAPI docs generated from type hints",
                 "supporting cookies and CORS", "with hot reload during development", "that serves JSON responses",
                 "with streaming uploads", "that stores sessions in a SQL database"],
    },
    "machine-learning": {
        "core": ["gradient boosting library", "neural network toolkit", "feature store", "model serving runtime",
                 "hyperparameter tuning framework", "dataset versioning tool", "tokenizer library", "embedding index",
                 "experiment tracker", "AutoML system", "reinforcement learning environment", "model quantization toolkit"],
        "does": ["that trains models on GPUs", "with early stopping and checkpoints", "for classification and regression",
                 "that exports models to ONNX", "with distributed training", "that explains predictions with feature importance",
                 "with mixed-precision inference", "that logs metrics to a web dashboard"],
    },
    "testing": {
        "core": ["test runner", "mocking library", "property-based testing tool", "fixture library", "snapshot testing plugin",
                 "code coverage tool", "load testing tool", "browser automation framework", "mutation testing tool",
                 "test data factory", "assertion library", "contract testing tool"],
        "does": ["with parallel test execution", "that shrinks failing examples", "with readable failure diffs",
                 "that records HTTP interactions for replay", "with flaky test detection", "that measures branch coverage",
                 "with parametrized test cases", "that runs your suite on every commit in CI"],
    },
    "devops": {
        "core": ["container orchestration tool", "CI pipeline runner", "infrastructure-as-code tool", "log shipper",
                 "deployment automation tool", "metrics exporter", "configuration management system", "Kubernetes operator",
                 "Docker image builder", "service mesh", "alerting daemon", "backup scheduler"],
        "does": ["with rolling deployments", "that provisions cloud servers", "with declarative YAML manifests",
                 "that collects metrics from every node", "with zero-downtime restarts", "that caches build layers",
                 "with secrets injected from a vault", "that restarts crashed services automatically"],
    },
    "security": {
        "core": ["password hashing library", "vulnerability scanner", "TLS certificate manager", "secrets manager",
                 "static analysis tool for security bugs", "OAuth2 provider", "encryption library", "intrusion detection system",
                 "dependency audit tool", "web application firewall", "two-factor authentication library", "fuzzing harness"],
        "does": ["with constant-time comparisons", "that detects SQL injection", "with key rotation",
                 "that flags known CVEs in dependencies", "with signed and encrypted tokens", "that enforces least-privilege access",
                 "with audit logs for your CI pipeline", "that scans Docker images for vulnerabilities"],
    },
}


def summary(rng: random.Random, core: str, does: list[str]) -> str:
    text = f"{rng.choice(OPENERS)} {core}{rng.choice(LANGUAGES)} {rng.choice(does)}{rng.choice(QUALIFIERS)}"
    text = text.replace("A a", "An a").replace("A e", "An e").replace("A o", "An o").replace("A i", "An i")
    return text if text.endswith(".") else text + "."


def generate() -> tuple[list[dict], list[dict]]:
    rng = random.Random(SEED)
    seen: set[str] = set()
    train, test = [], []
    for label, parts in TOPICS.items():
        cores = parts["core"][:]
        rng.shuffle(cores)
        test_only, shared = cores[:4], cores[4:]
        for rows, count, pool in ((train, N_TRAIN, shared), (test, N_TEST, shared + test_only)):
            made = 0
            while made < count:
                borrowed = rng.random() < BORROW_RATE  # a clause of another topic: the core phrase decides
                does = TOPICS[rng.choice([t for t in TOPICS if t != label])]["does"] if borrowed else parts["does"]
                text = summary(rng, rng.choice(pool), does)
                if text.lower() in seen:
                    continue
                seen.add(text.lower())
                rows.append({"text": text, "label": label})
                made += 1
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


def main() -> None:
    train, test = generate()
    for name, rows in (("train.jsonl", train), ("test.jsonl", test)):
        (OUT_DIR / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        print(f"{name}: {len(rows)} rows")


if __name__ == "__main__":
    main()
