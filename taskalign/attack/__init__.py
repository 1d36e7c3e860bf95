"""Adaptive attacks: mutation operators (operators.py), the search per intent (search.py), the LLM attacker
(attacker.py) and the operator variants of train cases for preference training (variants.py).

    taskalign attack --model embedded --out runs/attack --intents test --budget 20
"""
