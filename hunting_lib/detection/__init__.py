"""The hunt as a detection: a Microsoft Sentinel scheduled analytics rule and a Defender XDR custom detection query (issue 16)."""
