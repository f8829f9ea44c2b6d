"""Live painting: the picture follows each brush stroke (one session's runs coalesced, behind pressed runs)."""
