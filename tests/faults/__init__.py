"""Faults and abuse (issue 9): nothing lost, nobody let in.

Short variants run in CI; ``SANSHI_FAULTS_LONG=1`` runs the long ones (figures in
docs/faults.md).
"""
