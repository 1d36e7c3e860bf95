"""Authoring domains: `taskalign domain new` writes a domain folder with examples (scaffold.py), `taskalign domain
check` validates one and says what it leaves unmeasured (check.py). Loading a domain is taskalign.domain.load_domain.
"""
