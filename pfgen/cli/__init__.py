"""The command line: one click layer (main, one module per command), the exit-code table (exits), reporters."""
