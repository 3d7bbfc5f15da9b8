"""The public side: what the anonymous form needs (submissions, consent, receipts, the spool,
identity sealed to custodians). It reaches records and the owners, never the staff side."""
