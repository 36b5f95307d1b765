"""Windows Defender Firewall: parsers (one format or concept per module)."""
