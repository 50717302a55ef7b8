"""Symbolic differentiation on the graph: reverse and forward mode, Taylor mode, and the policy choosing between them."""
