"""A real OpenID Connect provider for the SSO tests: django-oauth-toolkit in its own process.

Started by the ``idp`` fixture (``tests/access/conftest.py``) on loopback, on
its own PostgreSQL database, with an RS256 key generated at start. Tests set
each person's claims through ``POST /control/identities`` (guarded by a
random token only the fixture knows); the portal then signs in through the
real authorisation-code flow. ``POST /control/behaviour`` makes it answer as
a broken or hostile provider would (an unsigned or forged ID token, a wrong or
missing RFC 9207 ``iss`` parameter) until the next test resets it.
"""
