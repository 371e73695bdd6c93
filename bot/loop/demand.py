"""The 普法需求清单 (demand list) from real questions: questions, hand-overs to advisers and 差
ratings grouped by topic, by grid and by week; the topics the bot could not answer; how long each
adviser took to reply. CSV exports of each grouping (no contact, no code: nothing personal)."""
from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from datetime import datetime

from ..records import Records
from .grids import Grids
from .tickets import age_hours

GROUPINGS = ("question", "topic", "grid", "week", "adviser")
COUNTS = ("questions", "unanswered", "bad", "handovers", "replied", "reply_bad")
HEADERS = {"questions": "提问数", "unanswered": "未能回答", "bad": "差评", "handovers": "转给顾问",
           "replied": "顾问已回复", "reply_bad": "顾问回复差评"}


def week_of(stamp: str) -> str:
    """2026-11-29T10:00:00 → 2026-W48 (ISO week)."""
    try:
        y, w, _ = datetime.fromisoformat(stamp).isocalendar()
    except ValueError:
        return ""
    return f"{y}-W{w:02d}"


def demand(records: Records, grids: Grids | None = None) -> dict:
    """{"by_topic", "by_grid", "by_week", "unanswered_topics", "reply_times"}: lists of rows."""
    questions, tickets = records.demand_rows()
    topic, week = defaultdict(lambda: dict.fromkeys(COUNTS, 0)), defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    grid = defaultdict(lambda: {"handovers": 0, "pending": 0, "replied": 0, "closed": 0, "reply_bad": 0})
    for q in questions:
        for row in (topic[q["topic"]], week[week_of(q["asked"])]):
            row["questions"] += 1
            row["unanswered"] += int(bool(q["abstained"]))
            row["bad"] += int(bool(q["bad"]))
    for t in tickets:
        for row in (topic[t["topic"]], week[week_of(t["created"])]):
            row["handovers"] += 1
            row["replied"] += int(t["first_reply"] is not None)
            row["reply_bad"] += int(t["rating"] == "bad")
        g = grid[t["grid"]]
        g["handovers"] += 1
        g[{"待处理": "pending", "已回复": "replied", "已关闭": "closed"}[t["status"]]] += 1
        g["reply_bad"] += int(t["rating"] == "bad")
    label = grids.label if grids is not None else (lambda i: f"第{i}网格")
    unanswered = sorted(((k, v["unanswered"] + sum(1 for t in tickets if t["topic"] == k and t["reason"] == "abstain"))
                         for k, v in topic.items()), key=lambda x: -x[1])
    advisers = defaultdict(list)
    rated = defaultdict(lambda: {"good": 0, "bad": 0})
    for t in tickets:
        if t["first_reply"]:
            advisers[t["adviser"]].append(age_hours(t["created"], datetime.fromisoformat(t["first_reply"])))
            if t["rating"]:
                rated[t["adviser"]][t["rating"]] += 1
    return {
        "by_topic": sorted(({"topic": k} | v for k, v in topic.items()), key=lambda r: (-r["questions"] - r["handovers"], r["topic"])),
        "by_grid": [{"grid": k, "grid_label": label(k)} | v for k, v in sorted(grid.items())],
        "by_week": [{"week": k} | v for k, v in sorted(week.items()) if k],
        "unanswered_topics": [{"topic": k, "unanswered": n} for k, n in unanswered if n],
        "reply_times": [{"adviser": a, "replied": len(h), "median_hours": round(statistics.median(h), 2),
                         "mean_hours": round(statistics.fmean(h), 2), "max_hours": round(max(h), 2)}
                        | rated[a] for a, h in sorted(advisers.items())],
    }


def demand_csv(records: Records, by: str = "question", grids: Grids | None = None) -> str:
    """One grouping of the demand list as CSV (by question: every distinct question, as before)."""
    if by not in GROUPINGS:
        raise ValueError(f"分组只能是 {'、'.join(GROUPINGS)}")
    if by == "question":
        return records.demand_csv()
    d = demand(records, grids)
    out = io.StringIO()
    w = csv.writer(out)
    if by == "topic":
        w.writerow(["主题", *(HEADERS[c] for c in COUNTS)])
        w.writerows([r["topic"], *(r[c] for c in COUNTS)] for r in d["by_topic"])
    elif by == "week":
        w.writerow(["周", *(HEADERS[c] for c in COUNTS)])
        w.writerows([r["week"], *(r[c] for c in COUNTS)] for r in d["by_week"])
    elif by == "grid":
        w.writerow(["网格编号", "网格", "转给顾问", "待处理", "已回复", "已关闭", "顾问回复差评"])
        w.writerows([r["grid"], r["grid_label"], r["handovers"], r["pending"], r["replied"], r["closed"], r["reply_bad"]]
                    for r in d["by_grid"])
    else:
        w.writerow(["顾问", "回复数", "回复用时中位数（小时）", "平均（小时）", "最长（小时）", "好评", "差评"])
        w.writerows([r["adviser"], r["replied"], r["median_hours"], r["mean_hours"], r["max_hours"], r["good"], r["bad"]]
                    for r in d["reply_times"])
    return out.getvalue()
