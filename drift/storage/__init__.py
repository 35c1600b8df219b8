"""Persistent storage: HBase tables for definition versions, latest pointers and run contexts."""
