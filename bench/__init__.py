"""Benchmarks of downward-webhook (`make bench`; not part of the test suite). See docs/benchmarks.md."""
