"""The permissions pre-flight of a cloud account: what a build needs the account to be allowed, checked before
it starts."""
