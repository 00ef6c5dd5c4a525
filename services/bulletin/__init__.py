"""The weekly exposure bulletin (每周曝光台): figures, publication, formats."""
