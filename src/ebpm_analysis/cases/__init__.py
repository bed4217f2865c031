"""Each case's analysis: pure functions over tidy frames (no file reading, no plotting)."""
