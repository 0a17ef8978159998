"""Stage 3, resolve: a validated template and config -> the typed JobPlan (plan); the VM catalogue (vms)."""
