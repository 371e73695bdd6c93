"""法润 FaRun: precise legal popularization — statutes and policies in, cited answers out.

Flow: sources (loaders) -> units -> index (store, dense, sparse) -> retrieval -> answers.
"""
