"""Test and benchmark harnesses that drive the far side of real calls."""
