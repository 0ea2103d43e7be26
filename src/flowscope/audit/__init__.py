"""Who changed what, when, from where: the audit log."""
