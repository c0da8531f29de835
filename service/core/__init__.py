"""The pure core: plain functions over plain data, no Flask, no Redis, no rq.

Tagging (`tagging`, `vocab`, `senses`, `pos`, `sentences`, `compounds`, `plot`), the plot
embedding (`embedding`, `glossary`, `plotspace`), the ranking (`simparams`, `catalog`, `similarity`,
`kernels` with its `kernel_*` helpers) and the TMDB reader (`tmdb`). Both the web and the jobs
import it; it imports nothing above it (docs/ARCHITECTURE.md, "The floors").
"""
