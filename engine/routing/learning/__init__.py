"""The learning router (issue 4): reads the complaint, finds the place, picks the unit, sets the
clock (urgent or not), spots the duplicate, and says why. See :class:`LearningRouter`."""

from engine.routing.learning.router import LearningRouter

__all__ = ["LearningRouter"]
