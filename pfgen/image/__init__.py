"""Workspace images: the file set and tag (workspace), .pfignore (ignore), building and pushing (docker)."""
