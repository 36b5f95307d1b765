"""Linux netfilter (iptables, nftables, ufw, firewalld) and Linux host state: semantics (one format or concept per module)."""
