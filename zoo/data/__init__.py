"""Dataset helpers: readers for COCO-style annotations and generators of synthetic data
(occlusions, shadows, corruptions) so users can make training and test data themselves.

Each module has one job and imports torch only where it must.
"""
