"""Cost sources: where bills come from (cloud exports, uploads), how they load, and how rows are attributed."""
