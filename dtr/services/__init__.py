"""The domain: what DTR does, independent of HTTP."""
