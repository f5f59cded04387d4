"""Reference flows shipped with reelflow; ``reelflow quickstart`` runs the personalization one."""
