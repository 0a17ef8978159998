"""Stage 4: emitters. Each turns a JobPlan into Kubernetes objects (dicts) and
never touches the disk; ``pfgen.dump`` serialises them."""
