"""The model registry: versions, lineage, aliases and gated promotion."""
