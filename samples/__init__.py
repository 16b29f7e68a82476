"""A versioned sample Durable Functions app (1.0.0, patch 1.0.1, breaking 1.1.0) and its packager."""
