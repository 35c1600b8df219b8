"""The definition cache: in-process LRU, then Redis, then HBase."""
