"""Answers: question in, `Answer` out (`pipeline.AnswerPipeline`), from the knowledge base's hits.

A regular package (not a namespace one), so that the layering contracts in .importlinter see it."""
