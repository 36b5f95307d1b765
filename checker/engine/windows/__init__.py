"""Windows Defender Firewall: semantics (one format or concept per module)."""
