"""API tokens: creating one (its secret shown once), revoking one, finding the one a request presents, and the page
that lists a person's own."""
