"""Retrieval: exact citations first, then BM25 + dense fused, behind langchain's BaseRetriever."""
