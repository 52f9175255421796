"""Detectors: the palm (hand) detector, TF Object Detection API models, shelf occupancy."""
