"""Stage 1, load: read untrusted YAML keeping line/column (document), libyaml composition (fastyaml), find templates (discover)."""
