"""Seeded generators, one per case. Each writes data in the *real* file format a city would
receive (so the synthetic path exercises the real loader) plus its planted truth beside it.
Everything they produce is labelled synthetic."""
