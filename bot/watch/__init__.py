"""Watching forest itself: which releases wait for approval, found from forest's own signals."""
