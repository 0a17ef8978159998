"""The command line: the click layer (main), the click-free validate/render path (entry, commands), reporters (report)."""
