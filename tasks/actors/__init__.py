"""The massive actions and the mail they send."""
