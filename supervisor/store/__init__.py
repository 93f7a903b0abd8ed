"""What the loop's database thread runs: a connection and plain data in, plain data out."""
