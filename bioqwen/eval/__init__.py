"""Evaluation: gold readers, prompts, batched generation, NER and QA metrics, scoring.

May import bioqwen.data (chat formatting), bioqwen.models, bioqwen.runs, bioqwen.tracking and
bioqwen.errors; never bioqwen.train (evaluation loads a model whoever trained it).
"""
