"""Synthetic, labelled shelf footage: the seeded composer behind the bundled recording."""
