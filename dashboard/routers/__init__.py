"""One router per resource: auth, pages (and their live fragments), approvals, api, metrics."""
