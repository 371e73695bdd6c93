"""The knowledge base as a langchain `BaseRetriever`, so any langchain chain can use it.

Each Document's page_content is the unit's text; its metadata is `Hit.to_json()` without the
text (law, article, status, score …), so chains can cite without a second lookup.
"""
from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .search import Filters, Hit, KnowledgeBase


def to_document(hit: Hit) -> Document:
    meta = hit.to_json()
    return Document(page_content=meta.pop("text"), metadata=meta, id=hit.unit.uid)


class LegalRetriever(BaseRetriever):
    """`retriever.invoke("问题", filters=Filters(level=["法律"]), context="上一轮…")`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    kb: KnowledgeBase
    k: int = 10
    filters: Filters | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                filters: Filters | None = None, context: str = "") -> list[Document]:
        hits = self.kb.search(query, k=self.k, filters=filters or self.filters, context=context)
        return [to_document(h) for h in hits]
