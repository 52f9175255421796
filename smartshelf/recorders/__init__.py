"""Event clips and annotated debug video."""
