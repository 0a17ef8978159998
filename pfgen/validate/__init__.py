"""Stage 2, validate: the one stage that reports template and project-config errors (schema, rules, plaintext secrets, tuning, pfgen.yaml)."""
