"""Hand-off to the case: findings as Microsoft Sentinel bookmarks and incidents, verdicts and exclusion keys as a watchlist (issue 16)."""
