"""The Flask variant."""
