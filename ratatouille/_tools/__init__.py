"""The catalog and maintenance helpers behind :mod:`ratatouille.tools` (one module per job)."""
