"""fwcheck: check firewalls against policy-as-code, with exact semantics."""

__version__ = "0.2.0"
