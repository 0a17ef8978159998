"""Stage 5, output: serialise (dump), lay out job trees (layout), write atomically and diff (write), the build cache (cache)."""
