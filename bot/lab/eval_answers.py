"""Answer-level evaluation.

* LeCoQA-format files: does the answer cite a gold article (among questions whose gold the
  index holds), how many citations in final answers do not resolve (must be 0), how often it
  abstains, and how long it takes.
* Multi-turn files (bot/answer/data/multiturn.json: {"turns": [first, follow-up], "gold": […]}):
  recall@10 of retrieval for the first turn, for the follow-up as rewritten with the history,
  and for the follow-up taken alone (what rewriting saves).
"""
from __future__ import annotations

import csv
import json
import re
import statistics
import time
from pathlib import Path

from ..answer.models import Answer
from ..answer.pipeline import AnswerPipeline
from ..lawnames import norm_title, parse_reference
from ..numerals import ARTICLE_RE, article_key, parse_article
from ..retrieval.search import Filters
from ..units import CARD_LEVELS
from .data import load_questions, present_keys, resolve, resolve_gold
from .eval import cross_validation, in_fold_order

_CITED = re.compile(rf"《([^《》]{{2,80}})》\s*({ARTICLE_RE.pattern})")


def _key(law: str, article: str) -> tuple[str, str]:
    parsed = parse_article(article)
    return norm_title(law), article_key(*parsed) if parsed else ""


def fabricated(pipeline: AnswerPipeline, ans: Answer) -> int:
    """Citations in a final answer that the knowledge base cannot resolve: listed ones whose
    unit is missing, and 《…》第N条 in the text that name no article of the base."""
    kb, every = pipeline.kb, Filters(status=["all"])
    listed = sum(1 for c in ans.citations if c.article.startswith("第") and not kb.article(c.law, c.article, every))
    written = sum(1 for m in _CITED.finditer(ans.answer) if not kb.article(m.group(1), m.group(2), every))
    return listed + written


def _percentiles(ms: list[float]) -> dict:
    if not ms:
        return {"p50_ms": 0.0, "p95_ms": 0.0}
    p95 = statistics.quantiles(ms, n=20)[-1] if len(ms) > 1 else ms[0]
    return {"p50_ms": round(statistics.median(ms), 1), "p95_ms": round(p95, 1)}


def _statute_keys(ans: Answer) -> list[tuple[str, str]]:
    """The statute articles an answer cites, in the order it cites them (cards and policies skipped)."""
    return [_key(c.law, c.article) for c in ans.citations if c.level not in CARD_LEVELS and c.article.startswith("第")]


def _quoted_keys(ans: Answer) -> set[tuple[str, str]]:
    """Articles whose text the answer quotes, not only names."""
    return {_key(c.law, c.article) for c in ans.citations
            if c.level not in CARD_LEVELS and c.quote and f"「{c.quote}」" in ans.answer}


def evaluate_answers(pipeline: AnswerPipeline, path: Path, limit: int | None = None, audience: str = "resident",
                     sheet: Path | None = None, sample: int | None = None, signals: Path | None = None) -> dict:
    """Answer figures; cross-validated (`"cv": true`) when the shipped reranker was trained on the
    file, as in retrieval evaluation.

    Beside `gold_citation_rate` (a gold article anywhere among the citations), what a reader
    sees first: `lead_at_1` (the first statute cited is gold), `card_lead_precision` (answers led
    by a Q&A card that cite a gold article) and `gold_quoted_rate` (a gold article's text is
    quoted, not only named). `sample` takes that many questions evenly spread over the file;
    `sheet` writes them with answers and reference answers for grading by reading; `signals`
    writes, per answer shown, its confidence signals and whether its lead was right (JSONL)."""
    kb = pipeline.kb
    present = present_keys(kb)
    _, questions = load_questions(path)
    folds = cross_validation(kb, resolve_gold(kb, questions), path)
    chosen = range(len(questions))
    if sample:
        chosen = sorted({round(i * len(questions) / sample) for i in range(sample)})
    elif limit:
        chosen = range(min(limit, len(questions)))
    wanted = set(chosen)
    n = {"scored": 0, "hit": 0, "lead": 0, "quoted": 0, "card_leads": 0, "card_gold": 0, "card_scored": 0,
         "fabricated": 0, "removed": 0, "abstained": 0, "clarified": 0}
    ms, rows, shown = [], [], []  # shown: (confidence, whether the answer leads with gold or a fitting card)
    records = []  # the signals of each answer shown, for calibrating its confidence
    for i in in_fold_order(kb, folds, len(questions)):
        if i not in wanted:
            continue
        q = questions[i]
        t = time.perf_counter()
        ans = pipeline.ask(q.text, audience=audience)
        ms.append((time.perf_counter() - t) * 1000)
        n["abstained"] += ans.abstained
        n["clarified"] += ans.decision == "clarify"
        n["fabricated"] += fabricated(pipeline, ans)
        n["removed"] += len(ans.removed_citations)
        n["card_leads"] += ans.led_by == "card"
        gold = {resolve(kb, g) for g in q.gold} & present
        cited = {_key(c.law, c.article) for c in ans.citations}
        if gold:
            statutes = _statute_keys(ans)
            n["scored"] += 1
            n["hit"] += bool(cited & gold)
            n["lead"] += bool(statutes) and statutes[0] in gold
            n["quoted"] += bool(_quoted_keys(ans) & gold)
            if ans.led_by == "card":
                n["card_scored"] += 1
                n["card_gold"] += bool(cited & gold)
            if not ans.abstained:
                good = bool(cited & gold) if ans.led_by == "card" else bool(statutes) and statutes[0] in gold
                shown.append((ans.confidence, good))
                records.append({"question": i, "signals": ans.signals, "lead_good": good})
        if sheet:
            rows.append((i, q, ans, gold))
    if signals:
        signals.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    if sheet:
        write_sheet(sheet, [(i, q.text, ans, sorted(gold), references(path).get(i, "")) for i, q, ans, gold in sorted(rows, key=lambda r: r[0])])
    asked = max(len(wanted), 1)
    return {"questions": len(wanted), "scored": n["scored"],
            "gold_citation_rate": round(n["hit"] / max(n["scored"], 1), 4),
            "lead_at_1": round(n["lead"] / max(n["scored"], 1), 4),
            "gold_quoted_rate": round(n["quoted"] / max(n["scored"], 1), 4),
            "card_leads": n["card_leads"],
            "card_lead_precision": round(n["card_gold"] / max(n["card_scored"], 1), 4),
            "fabricated_citations": n["fabricated"], "removed_citations": n["removed"],
            "abstain_rate": round(n["abstained"] / asked, 4), "clarify_rate": round(n["clarified"] / asked, 4),
            "confidence_table": confidence_table(shown), **_percentiles(ms), "cv": folds is not None}


CONFIDENCE_BINS = (0.9, 0.7, 0.5, 0.0)


def confidence_table(shown: list[tuple[float, bool]]) -> list[dict]:
    """Of the answers shown with confidence in each band, how many lead with a gold article (or
    a card that cites one): what the shown confidence is worth."""
    rows, upper = [], 1.01
    for low in CONFIDENCE_BINS:
        band = [good for c, good in shown if low <= c < upper]
        rows.append({"confidence": f"[{low}, {min(upper, 1.0)}]", "answers": len(band),
                     "lead_good": round(sum(band) / len(band), 4) if band else None})
        upper = low
    return rows


# ---- grading by reading ---------------------------------------------------------------------
SHEET_COLUMNS = ["id", "question", "answer", "sources", "gold", "reference_answer", "grade", "comment"]
GRADES = {"A": "correct and useful", "B": "on topic, question left unanswered", "C": "wrong or off-topic"}


def references(path: Path) -> dict[int, str]:
    """The reference (lawyers') answers of a LeCoQA file by position; empty for other formats."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {i: d.get("答案文本", "") for i, d in enumerate(data) if isinstance(d, dict)}


def write_sheet(path: Path, rows: list[tuple[int, str, Answer, list, str]]) -> None:
    """A CSV a person grades: fill `grade` with A (correct and useful), B (on topic but the question
    is left unanswered) or C (wrong or off-topic), and optionally a comment."""
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(SHEET_COLUMNS)
        for i, question, ans, gold, reference in rows:
            sources = "\n".join(f"{c.label}：{c.quote}" for c in ans.citations)
            w.writerow([i, question, ans.answer, sources, "；".join(f"{law}第{art}条" for law, art in gold), reference, "", ""])


def summarise_grades(path: Path) -> dict:
    """Shares of A / B / C in a graded sheet (rows left ungraded are counted apart)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        grades = [(row.get("grade") or "").strip().upper()[:1] for row in csv.DictReader(f)]
    bad = sorted({g for g in grades if g and g not in GRADES})
    if bad:
        raise ValueError(f"{path}: 评分只能是 {'/'.join(GRADES)}，发现 {'、'.join(bad)}")
    graded = [g for g in grades if g]
    out = {"rows": len(grades), "graded": len(graded)}
    out.update({f"{g}_share": round(graded.count(g) / max(len(graded), 1), 4) for g in GRADES})
    return out


def evaluate_multiturn(pipeline: AnswerPipeline, path: Path, limit: int | None = None, k: int = 10) -> dict:
    kb = pipeline.kb
    convs = json.loads(path.read_text(encoding="utf-8"))[:limit]
    recall = {"turn1": [], "turn2": [], "turn2_alone": []}
    ms = []
    for conv in convs:
        first, follow = conv["turns"][:2]
        gold = {resolve(kb, g) for ref in conv["gold"] if (g := parse_reference(ref))}
        t = time.perf_counter()
        ans1 = pipeline.ask(first)
        ans2 = pipeline.ask(follow, [(ans1.rewritten_question, ans1.answer)])
        ms.append((time.perf_counter() - t) * 1000 / 2)
        for name, query, context in (("turn1", first, ""), ("turn2", ans2.rewritten_question, first), ("turn2_alone", follow, "")):
            keys = {_key(h.unit.law, h.unit.article) for h in kb.search(query, k=k, context=context)}
            recall[name].append(len(keys & gold) / len(gold))
    out = {"conversations": len(convs)}
    out.update({f"{name}_recall@{k}": round(statistics.fmean(v), 4) if v else 0.0 for name, v in recall.items()})
    out["turn2_vs_turn1"] = round(out[f"turn2_recall@{k}"] / max(out[f"turn1_recall@{k}"], 1e-9), 4)
    return out | _percentiles(ms)


def run(pipeline: AnswerPipeline, path: Path, limit: int | None = None, audience: str = "resident",
        sheet: Path | None = None, sample: int | None = None, signals: Path | None = None) -> dict:
    """The evaluation the file's format calls for."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if data and isinstance(data, list) and "turns" in data[0]:
        return evaluate_multiturn(pipeline, path, limit)
    return evaluate_answers(pipeline, path, limit, audience, sheet, sample, signals)
