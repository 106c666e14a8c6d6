"""Offline batch: the non-interactive stages as OpenAI Batch JSONL request files, answers ingested back.

The request files are what OpenAI's Batch API and vLLM's `run_batch` read; their result files are ingested
into the call log as cache entries, so running the stage afterwards answers from the log without a model
call. `python -m core.batch write|ingest|submit|download` (see `core/batch/__main__.py`).
"""
