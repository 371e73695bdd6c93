"""The lab: everything that measures or trains FaRun, apart from what serves it. Nothing in the
runtime packages imports it (the layering contracts in .importlinter check that).

* `data`         — evaluation files (LeCoQA, LawBench) read into `Question`s, gold resolved
                   against an index
* `eval`         — retrieval figures (`python -m bot eval`), cross-validated against the shipped reranker
* `eval_answers` — answer figures (`python -m bot eval answers`)
* `learn`        — trains bot/data/reranker.json (`python -m bot.lab.learn`)
* `bench`        — latency and memory (`python -m bot.lab.bench`)
* `loadtest`     — many clients against a running server (`python -m bot.lab.loadtest`)
* `calibrate`    — the abstention weights (`python -m bot.lab.calibrate`)

Evaluation data lives outside the repository (../shared/eval in the documented commands) and is
named on the command line; only `bench` has a default, ../shared/eval/lecoqa_dev.json.
"""
