"""Fusion of hand tracks and zone occupancy into pick / return / touch events."""
