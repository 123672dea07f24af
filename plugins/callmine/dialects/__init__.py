"""Wire dialects spoken by more than one side of callmine (a client and a server)."""
