"""The reference application's own migration history (its version table: `corral_reference_version`)."""
