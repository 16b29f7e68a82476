"""`make bench`: the local dev host side by side with durabletask's in-memory backend."""
