"""Linux netfilter (iptables, nftables, ufw, firewalld) and Linux host state: parsers (one format or concept per module)."""
