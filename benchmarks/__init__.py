"""Side-by-side benchmarks of this project's optimizer against published prompt methods."""
