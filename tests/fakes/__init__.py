"""Real stand-ins for remote services tests cannot reach: `arm` is a local HTTPS Resource Manager."""
