"""Container networking: bridges and veths over netlink, IPAM, firewall rules, embedded DNS."""
