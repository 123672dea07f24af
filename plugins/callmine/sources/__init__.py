"""Sources of calls that arrive already transcribed (no audio job to run).

``callmine.sources.omni``: PyAI Omni voice-agent calls, listed per day and read as
canonical transcripts through the same PyAI connection (``pyai_default``) as Hear jobs.
"""
