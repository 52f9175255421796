"""smartshelf: hand and shelf-occupancy detection fused into pick / put-back events."""

__version__ = "0.1.0"
